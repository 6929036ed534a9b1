from django.db import migrations, models


def seal_plaintext_seeds(apps, schema_editor):
    """Seeds stored before the vault sealed them are sealed now; sealed ones are left alone."""
    from tenants.vault import TOTP_PURPOSE, USER_SECRET_PREFIX, seal_user_secret

    User = apps.get_model("tenants", "User")
    plaintext = User.objects.exclude(totp_secret="").exclude(
        totp_secret__startswith=USER_SECRET_PREFIX)
    for user in plaintext.only("pk", "totp_secret").iterator():
        user.totp_secret = seal_user_secret(user.pk, TOTP_PURPOSE, user.totp_secret)
        user.save(update_fields=["totp_secret"])


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0002_vault"),
    ]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="totp_secret",
            field=models.CharField(blank=True, editable=False, max_length=255),
        ),
        # No way back: a sealed seed is never written out in clear again.
        migrations.RunPython(seal_plaintext_seeds, migrations.RunPython.noop),
    ]
