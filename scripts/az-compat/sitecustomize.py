# Compatibility shim for Debian bookworm's azure-cli 2.45 with Debian's
# python3-azure (azure-mgmt-authorization 3.0.0 from a 2023-01 snapshot):
# az's role module reads `operations.config.subscription_id`, but those
# operation groups only have `_config`, so every `az role assignment` /
# `az role definition` command dies with
#   AttributeError: 'RoleAssignmentsOperations' object has no attribute 'config'
# before sending a request, against Azure and amlid alike. This adds the
# missing read-only alias. Use: PYTHONPATH=<this dir> az role ...
import importlib
import pkgutil


def _patch():
    try:
        import azure.mgmt.authorization as auth
    except Exception:
        return
    for mod in pkgutil.iter_modules(auth.__path__):
        if not mod.name.startswith("v20"):
            continue
        try:
            ops = importlib.import_module("azure.mgmt.authorization.%s.operations" % mod.name)
        except Exception:
            continue
        for name in dir(ops):
            cls = getattr(ops, name)
            if isinstance(cls, type) and name.endswith("Operations") and not hasattr(cls, "config"):
                cls.config = property(lambda self: self._config)


_patch()


# Key Vault data plane (amlid issue 8): Debian's az 2.45 `az keyvault secret …`
# imports the track-1 azure-keyvault 1.x client (azure.keyvault.KeyVaultClient,
# azure.keyvault.v7_0) that Debian does not package, and dies with
#   ModuleNotFoundError: No module named 'azure.keyvault.v7_0'
# before sending a request. amlid_kv_track1.py (next to this file) provides
# that interface on top of Debian's azure-keyvault-secrets.
_KV_ALIASES = ("azure.keyvault.v7_0", "azure.keyvault.v7_0.models", "azure.keyvault.v7_0.key_vault_client",
               "azure.keyvault.key_vault_client", "azure.keyvault.key_vault_id")


def _patch_keyvault():
    import importlib.abc
    import importlib.util
    import sys

    try:
        import azure.keyvault as kv
        import amlid_kv_track1 as t1
    except Exception:
        return
    if hasattr(kv, "KeyVaultClient"):
        return

    class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            return importlib.util.spec_from_loader(name, self) if name in _KV_ALIASES else None

        def create_module(self, spec):
            if spec.name == "azure.keyvault.key_vault_id":
                # az's own vendored copy of the track-1 ID parser (standalone file)
                import azure.cli.command_modules.keyvault as kvmod
                import os
                path = os.path.join(os.path.dirname(kvmod.__file__), "vendored_sdks", "azure_keyvault_t1", "key_vault_id.py")
                ids = importlib.util.spec_from_file_location(spec.name, path)
                mod = importlib.util.module_from_spec(ids)
                ids.loader.exec_module(mod)
                return mod
            return t1

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, _Alias())
    t1.__path__ = []  # a package, so v7_0.models resolves through the alias
    t1.models = t1
    t1.key_vault_client = t1
    kv.KeyVaultClient = t1.KeyVaultClient
    kv.KeyVaultAuthentication = t1.KeyVaultAuthentication


if any("keyvault" in a for a in getattr(__import__("sys"), "argv", [])):
    _patch_keyvault()
