"""azure-ai-ml 1.4.0 data assets against amlid (issue 18): the docs' local
folder upload. ml_client.data.create_or_update(Data(path="./local", …))
uploads through the workspace's default datastore (get_default +
listSecrets, then azure-storage-blob to https://{account}.blob.core.windows.net,
reached through amlid's resource proxy) and registers the asset.

    data.py RG WS DIR     # DIR holds ./local
"""

import json
import os
import sys

from azure.ai.ml import MLClient
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import Data
from azure.identity import DefaultAzureCredential


def main():
    rg, ws, workdir = sys.argv[1:4]
    os.chdir(workdir)
    ml_client = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], rg, ws)
    my_data = Data(path="./local", type=AssetTypes.URI_FOLDER, description="Data asset created from local folder.", name="local-folder")
    created = ml_client.data.create_or_update(my_data)
    got = ml_client.data.get(name="local-folder", version=created.version)
    print(json.dumps({"name": created.name, "version": created.version, "path": created.path, "type": created.type,
                      "got_path": got.path, "listed": sorted(d.name for d in ml_client.data.list())}))


if __name__ == "__main__":
    main()
