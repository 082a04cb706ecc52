# The track-1 azure-keyvault 7.0 interface Debian's az 2.45 calls for
# `az keyvault secret …` (azure.keyvault.KeyVaultClient, .v7_0.models), which
# Debian bookworm does not package: every such command dies with
#   ModuleNotFoundError: No module named 'azure.keyvault.v7_0'
# before sending a request, against Azure as well. This module keeps az's
# own command layer (arguments, the vault URL built from --vault-name and the
# cloud's keyVaultDns suffix or parsed from --id, its token from az's login,
# output transforms) and performs each call with Microsoft's track-2 client
# that Debian does ship (azure-keyvault-secrets). sitecustomize.py installs it.
import time

from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError as KeyVaultErrorException  # az prints its message


class _Model(object):
    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self, k, v)


class SecretAttributes(_Model):
    def __init__(self, enabled=None, not_before=None, expires=None, **kwargs):
        super(SecretAttributes, self).__init__(enabled=enabled, not_before=not_before, expires=expires, **kwargs)


class SecretBundle(_Model):
    pass


class SecretItem(_Model):
    pass


class DeletedSecretBundle(_Model):
    pass


class KeyVaultAuthentication(object):
    """az passes get_token(server, resource, scope) -> (type, token, entry)."""

    def __init__(self, authorization_callback=None, credentials=None):
        self._callback = authorization_callback

    def get_token(self, *scopes, **kwargs):
        scope = scopes[0]
        resource = scope[:-len("/.default")] if scope.endswith("/.default") else scope
        tok = self._callback(None, resource, scope)
        token = tok[1] if isinstance(tok, (tuple, list)) else tok
        return AccessToken(token, int(time.time()) + 300)


def _attributes(p):
    return SecretAttributes(enabled=p.enabled, not_before=p.not_before, expires=p.expires_on, created=p.created_on,
                            updated=p.updated_on, recovery_level=p.recovery_level,
                            recoverable_days=getattr(p, "recoverable_days", None))


def _bundle(p, value):
    return SecretBundle(value=value, id=p.id, content_type=p.content_type, tags=p.tags, kid=p.key_id,
                        managed=p.managed, attributes=_attributes(p))


def _item(p):
    return SecretItem(id=p.id, content_type=p.content_type, tags=p.tags, managed=p.managed, attributes=_attributes(p))


class KeyVaultClient(object):
    def __init__(self, credentials, api_version=None, **kwargs):
        self._credentials = credentials
        self._clients = {}

    def _client(self, vault_base_url):
        from azure.keyvault.secrets import SecretClient
        c = self._clients.get(vault_base_url)
        if c is None:
            # A vault may be addressed by IP (amlid); the challenge resource
            # check is the SDK's, not az's, which never made it.
            c = SecretClient(vault_base_url, self._credentials, verify_challenge_resource=False)
            self._clients[vault_base_url] = c
        return c

    def set_secret(self, vault_base_url, secret_name, value, tags=None, content_type=None, secret_attributes=None,
                   custom_headers=None, raw=False, **operation_config):
        a = secret_attributes
        s = self._client(vault_base_url).set_secret(
            secret_name, value, content_type=content_type, tags=tags, enabled=getattr(a, "enabled", None),
            not_before=getattr(a, "not_before", None), expires_on=getattr(a, "expires", None))
        return _bundle(s.properties, s.value)

    def get_secret(self, vault_base_url, secret_name, secret_version, custom_headers=None, raw=False,
                   **operation_config):
        s = self._client(vault_base_url).get_secret(secret_name, secret_version or None)
        return _bundle(s.properties, s.value)

    def get_secrets(self, vault_base_url, maxresults=None, custom_headers=None, raw=False, **operation_config):
        return [_item(p) for p in self._client(vault_base_url).list_properties_of_secrets()]

    def get_secret_versions(self, vault_base_url, secret_name, maxresults=None, custom_headers=None, raw=False,
                            **operation_config):
        return [_item(p) for p in self._client(vault_base_url).list_properties_of_secret_versions(secret_name)]

    def delete_secret(self, vault_base_url, secret_name, custom_headers=None, raw=False, **operation_config):
        d = self._client(vault_base_url).begin_delete_secret(secret_name).result()
        return DeletedSecretBundle(id=d.id, recovery_id=d.recovery_id, deleted_date=d.deleted_date,
                                   scheduled_purge_date=d.scheduled_purge_date, content_type=d.properties.content_type,
                                   tags=d.properties.tags, managed=d.properties.managed,
                                   attributes=_attributes(d.properties))
