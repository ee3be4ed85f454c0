import django.db.models.deletion
from django.db import migrations, models
from oauth2_provider.settings import oauth2_settings


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_guest_merge"),
        ("tenants", "0001_initial"),  # the toolkit's token rows point at the swapped client model
        migrations.swappable_dependency(oauth2_settings.REFRESH_TOKEN_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="RequestedUserinfoClaims",
            fields=[
                (
                    "refresh_token",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="requested_userinfo_claims",
                        serialize=False,
                        to=oauth2_settings.REFRESH_TOKEN_MODEL,
                    ),
                ),
                ("names", models.JSONField()),
            ],
            options={"verbose_name_plural": "requested userinfo claims"},
        ),
    ]
