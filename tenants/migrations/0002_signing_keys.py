import django.utils.timezone
from django.db import migrations, models


def sign_id_tokens_for_authorization_code_clients(apps, schema_editor):
    # Clients made before the OIDC provider had no signing algorithm; give the ones
    # that sign users in the one every new such client gets.
    Client = apps.get_model("tenants", "Client")
    Client.objects.filter(authorization_grant_type="authorization-code", algorithm="").update(algorithm="RS256")


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="SigningKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kid", models.CharField(max_length=64, unique=True)),
                ("algorithm", models.CharField(choices=[("RS256", "RSA with SHA-256")], default="RS256", max_length=8)),
                ("private_key_pem", models.TextField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("activated_at", models.DateTimeField()),
                ("retired_at", models.DateTimeField(blank=True, null=True)),
                ("created_by", models.CharField(max_length=200)),
            ],
            options={
                "ordering": ["-activated_at", "-id"],
            },
        ),
        migrations.RunPython(sign_id_tokens_for_authorization_code_clients, migrations.RunPython.noop),
    ]
