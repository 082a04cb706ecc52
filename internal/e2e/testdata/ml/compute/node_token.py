# The seed's snippet (003, "Compute cluster"), verbatim, run on a compute
# node by `amlid run --as <compute id>`; it prints what the Go test checks.
import json
import os

from azure.identity import ManagedIdentityCredential

client_id = os.environ.get('DEFAULT_IDENTITY_CLIENT_ID')
credential = ManagedIdentityCredential(client_id=client_id)
token = credential.get_token('https://storage.azure.com/')

refused = ""
try:
    ManagedIdentityCredential(client_id=os.environ["OTHER_CLIENT_ID"]).get_token('https://storage.azure.com/')
except Exception as e:  # the compute does not hold that identity (rule ID-3)
    refused = str(e)
node_dir = os.environ["AMLID_NODE_DIR"]
with open(os.path.join(node_dir, "output.txt"), "w") as f:
    f.write("written on the node")
print(json.dumps({"node_dir": node_dir, "default_client_id": client_id, "token": token.token, "refused": refused}))
