"""Sign-in methods each tenant configures, applied on the hub's pages for that tenant's apps."""
