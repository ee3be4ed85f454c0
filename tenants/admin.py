from django.contrib import admin


class ClientAdmin(admin.ModelAdmin):
    pass
