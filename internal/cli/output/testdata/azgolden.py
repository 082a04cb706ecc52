#!/usr/bin/python3
"""Produce az 2.45's exact output for test cases, using the real code.

Run with Debian's /usr/bin/python3 and the azure-cli package installed
(apt-get install azure-cli: knack 0.10.1, jmespath 1.0.1, tabulate 0.8.9,
PyYAML 6.0, Pygments 2.14). It reproduces what az does between a command
returning its result and printing it:

  * knack.query.CLIQuery: jmespath.compile(q) (a ValueError/KeyError there is
    argparse's "invalid jmespath_type value") then
    .search(result, jmespath.Options(collections.OrderedDict));
    azure.cli.core.util.handle_exception turns a JMESPathError raised by the
    search into "Invalid jmespath query supplied for `--query`: ...";
  * knack.cli.CLI.invoke: nothing is printed for a None result;
  * knack.output: the formatter for -o (format_json, format_json_color,
    format_yaml, format_yaml_color, format_table, format_tsv, format_none)
    on a CommandResultItem(result, table_transformer, is_query_active).

The command result itself is json.loads(<input>), i.e. plain dicts as az's
todict() produces.

Usage:
  azgolden.py cases  < cases.json  > results.json   (evaluate given cases)
  azgolden.py gotest > ../golden_test.go            (regenerate golden tests)
  azgolden.py parity > parity.json                  (regenerate random corpus)
  azgolden.py parity SEED N > /tmp/p.json           (a bigger corpus; run it with
                                     AMLID_PARITY_FILE=/tmp/p.json go test -run TestParity)
  azgolden.py qparity SEED N > /tmp/q.json          (random JMESPath expressions, same use)
  azgolden.py dparity SEED N > /tmp/d.json          (deeply nested documents, same use)
"""
import json
import random
import re
import sys
from collections import OrderedDict

import jmespath
from jmespath import Options
from knack.output import (format_json, format_json_color, format_none,
                          format_table, format_tsv, format_yaml,
                          format_yaml_color)
from knack.util import CLIError, CommandResultItem

FORMATTERS = {
    ('json', False): format_json, ('json', True): format_json,
    ('jsonc', False): format_json, ('jsonc', True): format_json_color,
    ('yaml', False): format_yaml, ('yaml', True): format_yaml,
    ('yamlc', False): format_yaml, ('yamlc', True): format_yaml_color,
    ('table', False): format_table, ('table', True): format_table,
    ('tsv', False): format_tsv, ('tsv', True): format_tsv,
    ('none', False): format_none, ('none', True): format_none,
}


def az_render(input_json, fmt, query='', color=False, table_transformer=None):
    """Returns {'out': text} or {'error': kind, 'msg': message}."""
    result = json.loads(input_json)
    query_active = False
    if query:
        try:
            expr = jmespath.compile(query)
        except (ValueError, KeyError, TypeError):
            return {'error': 'usage',
                    'msg': 'argument --query: invalid jmespath_type value: %r' % query}
        query_active = True
        try:
            result = expr.search(result, Options(OrderedDict))
        except jmespath.exceptions.JMESPathError as ex:
            msg = normalize_address(str(ex))
            return {'error': 'jmespath',
                    'msg': 'Invalid jmespath query supplied for `--query`: %s' % msg}
        except Exception as ex:  # pylint: disable=broad-except
            return {'error': 'python', 'msg': str(ex)}
    if result is None:
        return {'out': ''}
    item = CommandResultItem(result, table_transformer=table_transformer,
                             is_query_active=query_active)
    try:
        out = FORMATTERS[(fmt, bool(color))](item)
    except CLIError as ex:
        return {'error': 'cli', 'msg': str(ex)}
    except Exception as ex:  # pylint: disable=broad-except
        return {'error': 'python', 'msg': str(ex)}
    return {'out': normalize_address(out)}


def normalize_address(s):
    """str() of a JMESPath &expression holds a memory address; the Go port
    prints a fixed one of the same width."""
    return re.sub(r'_Expression object at 0x[0-9a-f]{12}>', '_Expression object at 0x7f0000000000>', s)


# ---------------------------------------------------------------------------
# Curated cases: the golden table in golden_test.go.

IDENTITY = {
    "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ml-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/trainer",
    "name": "trainer",
    "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
    "location": "eastus",
    "resourceGroup": "ml-rg",
    "tags": {"team": "ml", "cost-center": "42"},
    "clientId": "11111111-1111-1111-1111-111111111111",
    "principalId": "22222222-2222-2222-2222-222222222222",
    "tenantId": "33333333-3333-3333-3333-333333333333",
    "systemData": None,
}
RESOURCE = {
    "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws",
    "name": "ws",
    "type": "Microsoft.MachineLearningServices/workspaces",
    "location": "westeurope",
    "etag": "W/\"abc\"",
    "tags": {"env": "dev"},
    "identity": {"type": "SystemAssigned", "principal_id": "pid-1", "tenant_id": "tid-1"},
    "properties": {"provisioningState": "Succeeded", "description": "A workspace: for training; with a fairly long description that PyYAML has to fold at eighty columns",
                   "hbiWorkspace": False, "maxNodes": 4, "ratio": 0.5, "tiny": 1e-07, "huge": 1e16},
    "sku": {"name": "Basic", "tier": "Basic"},
    "enabled": True,
    "count": 3,
    "zones": [],
}
GROUPS = [
    {"id": "/subscriptions/s/resourceGroups/rg-a", "location": "eastus", "managedBy": None,
     "name": "rg-a", "properties": {"provisioningState": "Succeeded"}, "tags": None,
     "type": "Microsoft.Resources/resourceGroups"},
    {"id": "/subscriptions/s/resourceGroups/rg-bbbbbbbb", "location": "westus2", "managedBy": None,
     "name": "rg-bbbbbbbb", "properties": {"provisioningState": "Deleting"}, "tags": {"a": "b"},
     "type": "Microsoft.Resources/resourceGroups"},
]
WEIRD = {
    "empty": "", "space": " padded ", "multi": "line one\nline two", "quote": "it's",
    "dq": "say \"hi\"", "colon": "a: b", "hash": "a #b", "yes": "yes", "num": "123",
    "float": "1.5", "null": "null", "date": "2023-01-02", "unicode": "caf\u00e9 \u2713",
    "emoji": "\U0001F600", "tab": "a\tb", "lead": "-x", "dash": "- x", "star": "*x",
    "bs": "back\\slash", "ctrl": "bell\u0007", "nbsp": "a\u00a0b", "tilde": "~",
    "long": "word " * 30,
    "longnospace": "x" * 100,
    "neg": -7, "zero": 0, "negzero": -0.0, "big": 12345678901234567890, "f": 2.0,
    "exp": 1.5e300, "small": 5e-324, "t": True, "n": None,
    "list": [1, "two", None, True, [], {}, [3, [4]]],
    "nested": {"a": {"b": {"c": [{"d": 1}]}}},
    "K": 1, "k": 2, "_x": 3, "\u00e9t\u00e9": 4, "": 5,
}
LIST_OF_LISTS = [[1, "a", None], [2, "b", {"x": 1}], ["c", [1, 2], True]]


def curated():
    c = []

    def add(name, data, fmt, query='', color=False, transformer=None):
        c.append({'name': name, 'input': json.dumps(data), 'fmt': fmt,
                  'query': query, 'color': color, 'transformer': transformer})

    for fmt in ('json', 'jsonc', 'yaml', 'yamlc', 'table', 'tsv', 'none'):
        add('identity ' + fmt, IDENTITY, fmt)
        add('resource ' + fmt, RESOURCE, fmt)
        add('groups ' + fmt, GROUPS, fmt)
        add('string ' + fmt, "hello world", fmt)
        add('number ' + fmt, 42, fmt)
        add('float ' + fmt, 2.5, fmt)
        add('bool ' + fmt, True, fmt)
        add('null ' + fmt, None, fmt)
        add('empty list ' + fmt, [], fmt)
        add('empty dict ' + fmt, {}, fmt)
        add('weird ' + fmt, WEIRD, fmt)
        add('list of lists ' + fmt, LIST_OF_LISTS, fmt)
        add('list of scalars ' + fmt, ["a", 1, None, False, 1.5], fmt)
    for fmt in ('jsonc', 'yamlc'):
        for name, data in (('identity', IDENTITY), ('resource', RESOURCE), ('groups', GROUPS),
                           ('string', "hello"), ('number', 42), ('bool', False),
                           ('empty list', []), ('weird', WEIRD), ('list of lists', LIST_OF_LISTS)):
            add('%s %s color' % (name, fmt), data, fmt, color=True)
    # --query
    add('query id tsv', IDENTITY, 'tsv', 'id')
    add('query id json', IDENTITY, 'json', 'id')
    add('query names tsv', GROUPS, 'tsv', '[].name')
    add('query names json', GROUPS, 'json', '[].name')
    add('query hash table', IDENTITY, 'table', '{n:name, l:location}')
    add('query hash table on list', GROUPS, 'table', '{n:name, l:location}')
    add('query hash tsv', IDENTITY, 'tsv', '{n:name, l:location, c:clientId}')
    add('query list hash table', GROUPS, 'table', '[].{n:name, l:location}')
    add('query list hash tsv', GROUPS, 'tsv', '[].{n:name, l:location, s:properties.provisioningState}')
    add('query list hash yaml', GROUPS, 'yaml', '[].{n:name, l:location}')
    add('query list hash json', GROUPS, 'json', '[].{n:name, l:location}')
    add('query snake tsv', RESOURCE, 'tsv', 'identity.principal_id')
    add('query snake table', RESOURCE, 'table', 'identity')
    add('query filter table', GROUPS, 'table', "[?location=='westus2']")
    add('query filter tsv', GROUPS, 'tsv', "[?location=='westus2']")
    add('query missing', IDENTITY, 'json', 'nope')
    add('query missing table', IDENTITY, 'table', 'nope')
    add('query length', GROUPS, 'json', 'length(@)')
    add('query length table', GROUPS, 'table', 'length(@)')
    add('query bool tsv', RESOURCE, 'tsv', 'enabled')
    add('query nested tsv', RESOURCE, 'tsv', '[name, tags, zones, properties.maxNodes, properties.ratio]')
    add('query keys', RESOURCE, 'json', 'keys(@)')
    add('query alias yaml', RESOURCE, 'yaml', '[tags, tags, zones, zones]')
    add('query alias hash yaml', RESOURCE, 'yaml', '{a: tags, b: tags}')
    add('query avg', GROUPS, 'json', 'avg(`[1, 2]`)')
    add('query to_string', RESOURCE, 'json', 'to_string(properties)')
    add('query sort_by', GROUPS, 'tsv', 'sort_by(@, &location)[].name')
    add('query max_by', GROUPS, 'json', 'max_by(@, &name).name')
    add('query merge table', RESOURCE, 'table', 'merge(sku, tags)')
    add('query literal legacy', RESOURCE, 'json', '`foo bar`')
    add('query raw string', RESOURCE, 'json', "'a\\\\b\\'c'")
    add('query float literal', RESOURCE, 'json', '`1.0`')
    add('query ceil', RESOURCE, 'json', 'ceil(properties.ratio)')
    add('query to_number', RESOURCE, 'json', "to_number(' 1_000 ')")
    add('query slice', GROUPS, 'json', '[::-1].name')
    add('query values', RESOURCE, 'tsv', 'values(sku)')
    add('query not', RESOURCE, 'json', '!zones')
    add('query pipe', GROUPS, 'json', "[].tags | [?a=='b']")
    # errors
    add('query invalid', IDENTITY, 'json', '[?')
    add('query invalid quote', IDENTITY, 'json', "a[?b=='x'")
    add('query arithmetic', IDENTITY, 'json', 'a - b')
    add('query root', IDENTITY, 'json', '$.name')
    add('query type error', IDENTITY, 'json', 'length(`1`)')
    add('query unknown function', IDENTITY, 'json', 'foo(@)')
    add('query arity', IDENTITY, 'json', 'length(@, @)')
    add('query subtype', RESOURCE, 'json', 'max([name, count])')
    add('query sort_by type', GROUPS, 'json', 'sort_by(@, &tags)')
    add('table unavailable', {"a": {"b": 1}}, 'table')
    # a command's table_transformer (az group list uses an equivalent one)
    rg = '[].{Name:name, Location:location, Status:properties.provisioningState}'
    add('transformer table', GROUPS, 'table', transformer=rg)
    add('transformer json', GROUPS, 'json', transformer=rg)
    add('transformer with query', GROUPS, 'table', '[].{n:name}', transformer=rg)
    add('transformer raw query', GROUPS, 'table', '[]', transformer=rg)
    add('transformer single', IDENTITY, 'table', transformer='{Name:name, ClientId:clientId, Zone:zone}')
    return c


# ---------------------------------------------------------------------------
# Random corpus: parity.json.

KEYS = ['name', 'id', 'type', 'etag', 'location', 'camelCase', 'snake_case', 'Upper', 'a', 'b',
        'tags', 'properties', 'count', 'enabled', 'x-y', '\u00e9l\u00e8ve', 'ns:key', 'k with space',
        'principalId', 'zones', 'value', '', 'multi\nkey', 'k' * 125, 'long key ' * 14, '- dash', '#hash',
        'yes', '123', 'ETag', '\u00dfeta', 'ﬁle', 'id ']
WORDS = ['alpha', 'beta', 'gamma delta', 'eastus', 'West US 2', 'Succeeded', '', ' ', 'x: y', 'a #b',
         'multi\nline', 'trailing ', "quo'te", 'dq"x', 'tab\there', 'true', 'No', '0x1F', '012',
         '1e3', '1.5', '~', '-', '- item', '? q', '@at', '%pct', '`tick', '!bang', '&amp', '*star',
         'caf\u00e9', '\u2028sep', 'nel\u0085x', 'ctl\u0001', 'esc\u001b[31mred\u001b[0m', '\ufeffbom',
         'emoji \U0001F680', 'x' * 90, 'word ' * 25 + 'end', ('lorem ipsum ' * 12).strip(),
         'line1\n\nline3', ' lead', 'end\n', '2001-12-14t21:59:43.10-05:00', '<<', '=', 'null',
         'http://example.com/a?b=c#d', 'C:\\temp\\x', 'ends with colon:', 'a,b', '[x]', '{y}',
         '--- doc', '... end', '#comment', 'cr\rlf\r\n', 'del\u007f', '\u00a0nbsp', 'a  b', 'sp \n nl',
         'x' * 79 + ' y', ('aa ' * 40) + 'z\nnext line ' + ('bb ' * 30), '\u3000ideo', 'wide \u4e2d\u6587 text',
         '"quoted"', "'single'", 'a\\b', '\U0001F600' * 30 + ' tail', 'tab\tend ' * 12, 'x:' * 50]


def rand_scalar(r):
    k = r.random()
    if k < 0.45:
        return r.choice(WORDS)
    if k < 0.6:
        return r.choice([0, 1, -1, 2, 42, 10**18, -(10**20), 7])
    if k < 0.75:
        return r.choice([0.5, -2.25, 1e-7, 1e16, 1.5e300, 100.0, 0.1, 3.0, -0.0, 123456.789])
    if k < 0.88:
        return r.choice([True, False])
    return None


def rand_value(r, depth):
    k = r.random()
    if depth >= 3 or k < 0.5:
        return rand_scalar(r)
    if k < 0.75:
        return [rand_value(r, depth + 1) for _ in range(r.randint(0, 4))]
    d = {}
    for _ in range(r.randint(0, 5)):
        d[r.choice(KEYS)] = rand_value(r, depth + 1)
    return d


def rand_resource(r):
    d = {}
    for key in r.sample(KEYS, r.randint(1, 8)):
        d[key] = rand_value(r, 1)
    return d


def rand_doc(r):
    k = r.random()
    if k < 0.45:
        return [rand_resource(r) for _ in range(r.randint(0, 4))]
    if k < 0.8:
        return rand_resource(r)
    return rand_value(r, 0)


QUERIES = ['', '', '', '', '@', '[]', '[*].name', '[].name', '{n:name, l:location}',
           '[].{n: name, t: tags, c: count}', '[].[name, count]', 'length(@)', 'keys(@)', 'values(@)',
           'sort_by(@, &name)', '[?enabled]', '[?count > `1`]', "[?name=='alpha']", 'max_by(@, &count)',
           'to_string(@)', 'merge(@, `{"x": 1}`)', '[@, @]', '[0]', '[-1]', '[1:3]', '[::-1]', '*.name',
           'properties.*', '[].tags', '[].tags | []', 'not_null(missing, name, id)', 'type(@)',
           'avg([].count)', 'sum([].count)', 'min([].name)', "contains(keys(@), 'name')",
           "join(', ', [].name)", 'abs(`-1.5`)', 'ceil(`1.2`)', 'floor(`-1.2`)', "to_number('12')",
           'reverse(@)', 'sort([].name)', 'map(&name, @)', "starts_with(name, 'a')", '!enabled',
           'name || id', 'name && id', 'tags.*', '[].properties.count', '{a: @, b: @}', '`foo`',
           '[?', 'a - b', '$', 'foo(', 'length(@, @)', "abs('x')", '[?name > `1`]', 'values(@)[0]',
           '[].{"quoted key": name}', '"name"', 'name.length(@)', '[?contains(name, `"a"`)]',
           '[].count | sort(@)', 'max([].count)', 'to_array(name)', 'sort_by(@, &count)[0]']


def corpus(seed=2045, n=1500):
    r = random.Random(seed)
    cases = []
    for i in range(n):
        doc = rand_doc(r)
        fmt = r.choice(['json', 'jsonc', 'yaml', 'yamlc', 'table', 'tsv', 'table', 'tsv', 'yaml'])
        query = r.choice(QUERIES)
        color = r.random() < 0.4
        cases.append({'name': 'random %d' % i, 'input': json.dumps(doc), 'fmt': fmt,
                      'query': query, 'color': color})
    return cases


FUNCS = ['abs', 'avg', 'contains', 'ceil', 'ends_with', 'floor', 'join', 'keys', 'length', 'map',
         'max', 'max_by', 'merge', 'min', 'min_by', 'not_null', 'reverse', 'sort', 'sort_by',
         'starts_with', 'sum', 'to_array', 'to_string', 'to_number', 'type', 'values', 'nope']
LITERALS = ['`1`', '`-2`', '`1.5`', '`"a"`', '`true`', '`false`', '`null`', '`[]`', '`{}`', '`[1, 2.0, 3]`',
            '`["b", "a"]`', '`{"z": 1, "a": [true]}`', "'alpha'", "''", "'1'", "' 2.5 '", '`foo`',
            '`  bar`', "'it\\'s'", '`0`', '`1e3`', '`12345678901234567890`', '`"\\u00e9"`']


def rand_query(r, depth=0):
    k = r.random()
    if depth > 3 or k < 0.25:
        return r.choice(['name', 'count', 'tags', 'properties', 'enabled', 'a', 'b', '@', '"name"',
                         '"k with space"', 'id', 'zones', 'value'] + LITERALS)
    if k < 0.35:
        return rand_query(r, depth + 1) + '.' + r.choice(['name', 'count', '*', '[name, count]', '{x: name}', 'length(@)'])
    if k < 0.42:
        return rand_query(r, depth + 1) + '[%d]' % r.randint(-3, 3)
    if k < 0.47:
        parts = [r.choice(['', str(r.randint(-3, 3))]) for _ in range(r.choice([2, 3]))]
        return rand_query(r, depth + 1) + '[' + ':'.join(parts) + ']'
    if k < 0.52:
        return rand_query(r, depth + 1) + r.choice(['[*]', '[]', '.*', '[*].name', '[].count'])
    if k < 0.6:
        op = r.choice(['==', '!=', '<', '<=', '>', '>='])
        cond = rand_query(r, depth + 1) + ' ' + op + ' ' + rand_query(r, depth + 1)
        return r.choice(['', rand_query(r, depth + 1)]) + '[?' + cond + ']'
    if k < 0.66:
        n = r.randint(1, 3)
        return '{' + ', '.join('%s: %s' % (r.choice(['a', 'b', 'c', 'a', '"q k"']), rand_query(r, depth + 1))
                               for _ in range(n)) + '}'
    if k < 0.71:
        return '[' + ', '.join(rand_query(r, depth + 1) for _ in range(r.randint(1, 3))) + ']'
    if k < 0.85:
        f = r.choice(FUNCS)
        args = []
        for _ in range(r.choice([0, 1, 1, 2, 2, 3])):
            a = rand_query(r, depth + 1)
            if r.random() < 0.25:
                a = '&' + a
            args.append(a)
        return f + '(' + ', '.join(args) + ')'
    if k < 0.9:
        return rand_query(r, depth + 1) + ' ' + r.choice(['|', '||', '&&']) + ' ' + rand_query(r, depth + 1)
    if k < 0.94:
        return '!' + rand_query(r, depth + 1)
    if k < 0.97:
        return '(' + rand_query(r, depth + 1) + ')'
    # token soup, mostly invalid
    toks = ['.', '*', '[', ']', '[?', '[]', '{', '}', '(', ')', ',', ':', '@', '&', '|', '||', '&&', '!',
            '==', '<', 'name', '1', '-1', "'x'", '`1`', '"q"', '$', '+', '-', '=', '/', '%', ' ']
    return ''.join(r.choice(toks) for _ in range(r.randint(1, 6)))


def qcorpus(seed, n):
    r = random.Random(seed)
    cases = []
    for i in range(n):
        doc = rand_doc(r)
        fmt = r.choice(['json', 'json', 'json', 'tsv', 'table', 'yaml'])
        cases.append({'name': 'query %d' % i, 'input': json.dumps(doc), 'fmt': fmt,
                      'query': rand_query(r), 'color': False})
    return cases


def deep_value(r, depth):
    k = r.random()
    if depth >= 6 or k < 0.3:
        return rand_scalar(r)
    if k < 0.6:
        return [deep_value(r, depth + 1) for _ in range(r.randint(0, 5))]
    return {r.choice(KEYS): deep_value(r, depth + 1) for _ in range(r.randint(0, 6))}


def dcorpus(seed, n):
    r = random.Random(seed)
    cases = []
    for i in range(n):
        doc = deep_value(r, 0)
        fmt = r.choice(['yaml', 'yamlc', 'jsonc', 'table', 'tsv'])
        query = r.choice(['', '', '', '[@, @]', '{a: @, b: @}', '[*]', '*', '[]', 'values(@)'])
        cases.append({'name': 'deep %d' % i, 'input': json.dumps(doc), 'fmt': fmt,
                      'query': query, 'color': r.random() < 0.7})
    return cases


def evaluate(cases):
    out = []
    for c in cases:
        res = az_render(c['input'], c['fmt'], c.get('query', ''), c.get('color', False),
                        c.get('transformer'))
        out.append(dict(c, **res))
    return out


def go_string(s):
    """A Go interpreted string literal with an ASCII-only source."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == '\\':
            out.append('\\\\')
        elif ch == '\n':
            out.append('\\n')
        elif ch == '\t':
            out.append('\\t')
        elif ch == '\r':
            out.append('\\r')
        elif 0x20 <= o < 0x7f:
            out.append(ch)
        elif o <= 0xffff:
            out.append('\\u%04x' % o)
        else:
            out.append('\\U%08x' % o)
    out.append('"')
    return ''.join(out)


def gotest():
    cases = evaluate(curated())
    lines = [
        '// Code generated by testdata/azgolden.py gotest; DO NOT EDIT.',
        '//',
        '// Every "want" below is the output of the real az 2.45 formatter code',
        '// (Debian azure-cli 2.45.0: knack 0.10.1, jmespath 1.0.1, tabulate',
        '// 0.8.9, PyYAML 6.0, Pygments 2.14), produced by running',
        '// testdata/azgolden.py with /usr/bin/python3 on the same input.',
        '',
        'package output',
        '',
        'var goldenCases = []goldenCase{',
    ]
    for c in cases:
        lines.append('\t{')
        lines.append('\t\tname:  %s,' % go_string(c['name']))
        lines.append('\t\tinput: %s,' % go_string(c['input']))
        lines.append('\t\tformat: %s,' % go_string(c['fmt']))
        if c['query']:
            lines.append('\t\tquery: %s,' % go_string(c['query']))
        if c['color']:
            lines.append('\t\tcolor: true,')
        if c.get('transformer'):
            lines.append('\t\ttransformer: %s,' % go_string(c['transformer']))
        if 'error' in c:
            lines.append('\t\terrKind: %s,' % go_string(c['error']))
            lines.append('\t\twant: %s,' % go_string(c['msg']))
        else:
            lines.append('\t\twant: %s,' % go_string(c['out']))
        lines.append('\t},')
    lines.append('}')
    print('\n'.join(lines))


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else 'cases'
    if mode == 'cases':
        json.dump(evaluate(json.load(sys.stdin)), sys.stdout, ensure_ascii=True)
    elif mode == 'gotest':
        gotest()
    elif mode == 'parity' and len(sys.argv) == 2:
        # the committed corpus: a mix of the three generators
        cases = corpus(2045, 400) + qcorpus(2045, 500) + dcorpus(2045, 40)
        json.dump(evaluate(cases), sys.stdout, ensure_ascii=True, separators=(",", ":"))
    elif mode == 'parity':
        json.dump(evaluate(corpus(int(sys.argv[2]), int(sys.argv[3]))), sys.stdout, ensure_ascii=True, indent=0)
    elif mode == 'dparity':
        json.dump(evaluate(dcorpus(int(sys.argv[2]), int(sys.argv[3]))), sys.stdout, ensure_ascii=True, indent=0)
    elif mode == 'qparity':
        json.dump(evaluate(qcorpus(int(sys.argv[2]), int(sys.argv[3]))), sys.stdout, ensure_ascii=True, indent=0)
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
