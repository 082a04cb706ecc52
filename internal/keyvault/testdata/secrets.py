# Drives Debian's azure-keyvault-secrets against an amlid vault.
# argv: vault_url authority client_id client_secret mode
# mode "full": set, get, list, delete, recover; "getter": get works, list is refused.
import json
import sys

from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

vault_url, authority, client_id, secret, mode = sys.argv[1:6]
cred = ClientSecretCredential("adfs", client_id, secret, authority=authority)
# A vault on 127.0.0.1 is not a subdomain of vault.azure.net: the one option it needs.
client = SecretClient(vault_url, cred, verify_challenge_resource=False)
out = {}
if mode == "full":
    s = client.set_secret("py-secret", "from python", content_type="text/plain", tags={"lang": "py"})
    out["version"] = s.properties.version
    out["value"] = client.get_secret("py-secret").value
    out["names"] = sorted(p.name for p in client.list_properties_of_secrets())
    client.begin_delete_secret("py-secret").result()
    out["deleted"] = [d.name for d in client.list_deleted_secrets()]
    client.begin_recover_deleted_secret("py-secret").result()
    out["recovered"] = client.get_secret("py-secret").value
else:
    out["value"] = client.get_secret("py-secret").value
    try:
        list(client.list_properties_of_secrets())
        out["list"] = "allowed"
    except HttpResponseError as e:
        out["list"] = "%d %s" % (e.status_code, e.message)
print(json.dumps(out))
