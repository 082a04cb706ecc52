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
