from django.db import migrations, models


def clients_disabled_revoke_their_tokens(apps, schema_editor):
    # A client disabled before this release keeps its tokens dead when it is enabled again.
    Client = apps.get_model("tenants", "Client")
    Client.objects.filter(disabled_at__isnull=False).update(tokens_revoked_before=models.F("disabled_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0007_idempotency_response_headers"),
    ]

    operations = [
        migrations.AddField(
            model_name="client",
            name="tokens_revoked_before",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(clients_disabled_revoke_their_tokens, migrations.RunPython.noop),
    ]
