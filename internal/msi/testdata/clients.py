# Runs Microsoft's Python clients against amlid's managed-identity endpoint.
# stdin: a JSON list of scenarios {"name", "kind": "sdk"|"seed", "env": {...},
# "kwargs": {...}, "scope"}. stdout: one JSON object name -> {"token"} or
# {"error", "message"}. Each scenario gets exactly its own MI environment.
import importlib.util
import json
import os
import sys

from azure.identity import ManagedIdentityCredential

MI_VARS = [
    "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "DEFAULT_IDENTITY_CLIENT_ID", "UAI_CLIENT_ID",
    "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
]

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("seed_score", os.path.join(here, "seed_score.py"))
seed = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seed)

out = {}
for s in json.load(sys.stdin):
    for v in MI_VARS:
        os.environ.pop(v, None)
    os.environ.update(s.get("env") or {})
    try:
        if s["kind"] == "seed":
            tok = seed.get_token_rest()
        else:
            cred = ManagedIdentityCredential(**(s.get("kwargs") or {}))
            tok = cred.get_token(s["scope"]).token
        out[s["name"]] = {"token": tok}
    except Exception as ex:  # reported to the Go test
        out[s["name"]] = {"error": type(ex).__name__, "message": str(ex)[:800]}
print(json.dumps(out))
