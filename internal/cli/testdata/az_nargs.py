"""Prints, as JSON, the options that Debian's az (azure-cli 2.45) declares
with nargs='+' or '*' (space-separated values) for the given commands:
{"nargs": {"keyvault set-policy": [{"options": ["--secret-permissions"],
 "nargs": "*"}, ...], ...},
 "unknown": [commands az does not have], "errors": {command: why az could
 not load its arguments}}.

It loads az's own command table and argument registry the way az does
before parsing a command line, so the list comes from az, not from us.

    /usr/bin/python3 az_nargs.py "keyvault set-policy" "storage blob upload" ...
"""

import json
import logging
import os
import sys

os.environ.setdefault("AZURE_CORE_COLLECT_TELEMETRY", "false")
logging.disable(logging.CRITICAL)

from azure.cli.core import get_default_cli  # noqa: E402


def registered_arguments(loader, name):
    """The arguments registered for command `name` by its module's
    load_arguments (argument contexts of `name` and its parent groups)."""
    settings = {}
    for module_loader in loader.cmd_to_loader_map.get(name, []):
        module_loader.command_name = name
        module_loader.load_arguments(name)
        registry = module_loader.argument_registry.arguments
        words = name.split(" ")
        for i in range(len(words) + 1):
            scope = " ".join(words[:i])
            for dest, argtype in registry.get(scope, {}).items():
                settings.setdefault(dest, {}).update(argtype.settings)
    return settings


def main():
    wanted = sys.argv[1:]
    cli = get_default_cli()
    invoker = cli.invocation_cls(cli_ctx=cli, commands_loader_cls=cli.commands_loader_cls,
                                 parser_cls=cli.parser_cls, help_cls=cli.help_cls)
    cli.invocation = invoker
    loader = invoker.commands_loader
    table = loader.load_command_table(None)
    out, unknown, errors = {}, [], {}
    for name in sorted(set(wanted)):
        if name not in table:
            unknown.append(name)
            continue
        # What az sets before it loads a command's arguments: argument
        # contexts apply to the command being parsed.
        invoker.data["command_string"] = name
        loader.command_name = name
        try:
            loader.load_arguments(name)
        except Exception as e:  # pylint: disable=broad-except
            # Debian's az cannot build some commands' arguments by
            # reflection (keyvault secret list-deleted, purge, recover,
            # set-attributes name a track-1 SDK Debian lacks). Their
            # registered arguments (the _params.py declarations, where
            # nargs is set) still load: use those.
            try:
                registered = registered_arguments(loader, name)
            except Exception as e2:  # pylint: disable=broad-except
                errors[name] = "%s: %s; %s: %s" % (type(e).__name__, e, type(e2).__name__, e2)
                continue
        else:
            registered = {n: a.type.settings for n, a in loader.command_table[name].arguments.items()}
        opts = []
        for arg_name, settings in registered.items():
            # nargs '+' (one or more) and '*' (zero or more): argparse
            # takes every following word up to the next option.
            if settings.get("nargs") not in ("+", "*"):
                continue
            options = [o for o in (settings.get("options_list") or []) if isinstance(o, str)]
            if not options:
                options = ["--" + arg_name.replace("_", "-")]
            # Long form first, as amlid's flag is named after it.
            options.sort(key=lambda o: (not o.startswith("--"), o))
            opts.append({"options": options, "nargs": settings["nargs"]})
        if opts:
            out[name] = sorted(opts, key=lambda o: o["options"][0])
    json.dump({"nargs": out, "unknown": unknown, "errors": errors}, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
