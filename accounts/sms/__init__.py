"""Text messages (SMS): one interface, a backend chosen by settings, sent by a Celery task.

``sms_schedule(to=..., text=...)`` is the one door: it sends after the current transaction
commits, through ``accounts.sms.tasks.sms_send_task``, which retries with backoff.
"""
