"""The scopes a tenant system's client-credentials token can carry, and what each allows."""

API_SCOPES = {
    "tenant:admin": "Configure the tenant: config, clients and their secrets, purposes, webhooks.",
    "users:read": "Look users up and export them, within consent and purpose.",
    "users:write": "Create and update users.",
    "consents:write": "Record consent grants and withdrawals.",
    "events:read": "Read the change feed.",
    "platform:admin": "Platform operators only: create, suspend and delete tenants.",
}
# Only platform staff hand this one out; a tenant can never give it to its own clients.
PLATFORM_SCOPE = "platform:admin"
