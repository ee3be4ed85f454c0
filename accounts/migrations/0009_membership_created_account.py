from datetime import timedelta

from django.db import migrations, models
from django.db.models import Min

# Memberships made before this column: a tenant's push or import made the account where its
# membership was written with the account (within a few seconds of it) and is the user's
# first. A person's own sign-up, staff's accounts and later pushes naming an existing user
# made nothing.
WITHIN = timedelta(seconds=5)
TENANT_MADE = ("api", "import")
BACKFILL = """
UPDATE accounts_membership AS membership SET created_account = TRUE
FROM accounts_user AS account
WHERE account.id = membership.user_id
  AND membership.source IN ('api', 'import')
  AND membership.created_at BETWEEN account.date_joined - INTERVAL '5 seconds'
                                AND account.date_joined + INTERVAL '5 seconds'
  AND membership.id = (SELECT MIN(first.id) FROM accounts_membership AS first WHERE first.user_id = membership.user_id)
"""


def backfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKFILL)
        return
    # The embedded default (SQLite) holds a demo's few rows: the same rule, row by row.
    Membership = apps.get_model("accounts", "Membership")
    firsts = Membership._default_manager.values("user_id").annotate(first=Min("id")).values_list("first", flat=True)
    for membership in Membership._default_manager.filter(pk__in=list(firsts), source__in=TENANT_MADE).select_related(
        "user"
    ):
        if abs(membership.created_at - membership.user.date_joined) <= WITHIN:
            Membership._default_manager.filter(pk=membership.pk).update(created_account=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_importjob_hub_url"),
    ]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="created_account",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
