from django.db import migrations, models

# Memberships made before this column: each user's first membership is taken as the one
# its account was made for (a push, an import, a sign-up or a guest at that tenant).
BACKFILL = """
UPDATE accounts_membership SET created_account = TRUE
WHERE id IN (SELECT MIN(id) FROM accounts_membership GROUP BY user_id)
"""


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
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
    ]
