// Package output renders a command's result the way Azure CLI 2.45 does
// for -o json|jsonc|tsv|table|yaml|yamlc|none and --query <JMESPath>.
//
// Each format is a port of the Python code az runs (Debian azure-cli
// 2.45.0 with knack 0.10.1, jmespath 1.0.1, tabulate 0.8.9, PyYAML 6.0 and
// Pygments 2.14):
//
//	json   knack.output.format_json       json.dumps(indent=2, sort_keys=True, ensure_ascii=False)
//	jsonc  knack.output.format_json_color Pygments JsonLexer + TerminalFormatter (plain json without color)
//	yaml   knack.output.format_yaml       yaml.safe_dump(default_flow_style=False, allow_unicode=True)
//	yamlc  knack.output.format_yaml_color Pygments YamlLexer + TerminalFormatter (plain yaml without color)
//	table  knack.output.format_table      _TableOutput + tabulate(tablefmt="simple", disable_numparse=True)
//	tsv    knack.output.format_tsv        _TsvOutput
//	none   knack.output.format_none
//
// --query is knack.query.CLIQuery: jmespath.compile(q).search(result,
// jmespath.Options(collections.OrderedDict)). See query.go.
package output

import (
	"fmt"
	"io"
	"strings"
)

// Format is an output format (-o/--output).
type Format string

// The formats az accepts.
const (
	JSON  Format = "json"
	JSONC Format = "jsonc"
	YAML  Format = "yaml"
	YAMLC Format = "yamlc"
	Table Format = "table"
	TSV   Format = "tsv"
	None  Format = "none"
)

// Formats lists the formats in az's order (knack's OutputProducer._FORMAT_DICT).
var Formats = []Format{JSON, JSONC, YAML, YAMLC, Table, TSV, None}

// QueryReference is the recommendation az prints after any --query error.
const QueryReference = "To learn more about --query, please visit: 'https://docs.microsoft.com/cli/azure/query-azure-cli'"

// Error is an error as az reports it: "ERROR: " + Message on stderr, then
// each recommendation on its own line, and ExitCode (2 for argument
// errors, 1 otherwise).
type Error struct {
	Message         string
	Recommendations []string
	ExitCode        int
}

func (e *Error) Error() string { return e.Message }

// ParseFormat validates -o/--output like az: the value is lower-cased
// (argparse type=str.lower) and must be one of Formats. The error message
// is az's without its "az <command>: " prefix, e.g.
//
//	'xml' is not a valid value for '--output'. Allowed values: json, jsonc, yaml, yamlc, table, tsv, none.
//
// with a "Did you mean 'json' ?" recommendation when difflib finds one.
func ParseFormat(s string) (Format, error) {
	v := strings.ToLower(s)
	names := make([]string, len(Formats))
	for i, f := range Formats {
		if v == string(f) {
			return f, nil
		}
		names[i] = string(f)
	}
	e := &Error{
		Message:  fmt.Sprintf("'%s' is not a valid value for '--output'. Allowed values: %s.", v, strings.Join(names, ", ")),
		ExitCode: 2,
	}
	if m := closeMatches(v, names, 3, 0.7); len(m) > 0 {
		e.Recommendations = []string{fmt.Sprintf("Did you mean '%s' ?", m[0])}
	}
	return "", e
}

// Options are the less common rendering inputs.
type Options struct {
	// Query is --query; empty means none.
	Query string
	// Color is knack's cli_ctx.enable_color: stdout and stderr are
	// terminals and core.no_color is off. It only affects jsonc and yamlc.
	Color bool
	// TableTransformer is the command's table_transformer, applied for
	// -o table when no --query is given, exactly like az: either a
	// JMESPath string (searched with OrderedDicts) or a
	// func(result any) any that receives the result as plain Go values
	// (map[string]any, []any, string, bool, nil, json.Number) and returns
	// rows, typically []Ordered to fix the column order.
	TableTransformer any
}

// Render writes result (any JSON-able value: a struct, map[string]any from
// json.Unmarshal, json.RawMessage, Ordered, ...) in format after applying
// query, exactly as az 2.45 prints it. A nil result (after the query)
// prints nothing, as in az. Errors are *Error.
func Render(w io.Writer, result any, format Format, query string, color bool) error {
	return RenderWith(w, result, format, Options{Query: query, Color: color})
}

// RenderWith is Render with Options.
func RenderWith(w io.Writer, result any, format Format, opts Options) error {
	s, err := Sprint(result, format, opts)
	if err != nil {
		return err
	}
	if s == "" {
		return nil
	}
	_, err = io.WriteString(w, s)
	return err
}

// Sprint returns what Render would write.
func Sprint(result any, format Format, opts Options) (string, error) {
	if _, err := ParseFormat(string(format)); err != nil {
		return "", err
	}
	format = Format(strings.ToLower(string(format)))
	v, err := normalize(result)
	if err != nil {
		return "", &Error{Message: err.Error(), ExitCode: 1}
	}
	queryActive := opts.Query != ""
	if queryActive {
		q, err := compileQuery(opts.Query)
		if err != nil {
			return "", &Error{
				Message:         "argument --query: invalid jmespath_type value: " + pyStrRepr(opts.Query),
				Recommendations: []string{QueryReference},
				ExitCode:        2,
			}
		}
		if v, err = q.search(v); err != nil {
			return "", searchError(err)
		}
	}
	if v == nil {
		return "", nil
	}
	if hasExpref(v) && format != Table && format != TSV && format != None {
		// An &expression in the result: json.dumps fails (yaml falls back
		// to json.dumps). Table and tsv print its str().
		return "", &Error{Message: "Object of type _Expression is not JSON serializable", ExitCode: 1}
	}
	switch format {
	case JSON:
		return dumpsPretty(v), nil
	case JSONC:
		if opts.Color {
			return colorizeJSON(dumpsPretty(v)), nil
		}
		return dumpsPretty(v), nil
	case YAML:
		return yamlDump(v), nil
	case YAMLC:
		if opts.Color {
			return colorizeYAML(yamlDump(v)), nil
		}
		return yamlDump(v), nil
	case Table:
		return formatTable(v, queryActive, opts.TableTransformer)
	case TSV:
		return formatTSV(v), nil
	}
	return "", nil // none
}

func hasExpref(v any) bool {
	switch t := v.(type) {
	case *expref:
		return true
	case *object:
		for _, k := range t.keys {
			if hasExpref(t.vals[k]) {
				return true
			}
		}
	case *array:
		for _, x := range t.items {
			if hasExpref(x) {
				return true
			}
		}
	}
	return false
}

func searchError(err error) error {
	if je, ok := err.(*jmesError); ok {
		return &Error{
			Message:         "Invalid jmespath query supplied for `--query`: " + je.msg,
			Recommendations: []string{QueryReference},
			ExitCode:        1,
		}
	}
	// az fails with "The command failed with an unexpected error" and a
	// Python traceback for these (TypeError and the like).
	return &Error{Message: err.Error(), ExitCode: 1}
}

// --- tsv (knack _TsvOutput) ------------------------------------------------

func formatTSV(v any) string {
	rows := []any{v}
	if a, ok := v.(*array); ok {
		rows = a.items
	}
	var b strings.Builder
	for _, row := range rows {
		switch t := row.(type) {
		case *object:
			keys := t.keys
			if !t.ordered {
				keys = t.sortedKeys()
			}
			for i, k := range keys {
				if i > 0 {
					b.WriteByte('\t')
				}
				tsvObj(&b, t.vals[k])
			}
		case *array:
			for i, x := range t.items {
				if i > 0 {
					b.WriteByte('\t')
				}
				tsvObj(&b, x)
			}
		case bool:
			if t {
				b.WriteString("true")
			} else {
				b.WriteString("false")
			}
		default:
			tsvObj(&b, t)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func tsvObj(b *strings.Builder, v any) {
	switch t := v.(type) {
	case *array:
		fmt.Fprint(b, len(t.items))
	case *object:
	default:
		b.WriteString(pyStr(t))
	}
}

// --- table (knack _TableOutput) ----------------------------------------------

const tableUnavailable = "Table output unavailable. Use the --query option to specify an appropriate query. Use --debug for more info."

var tableSkipKeys = map[string]bool{"id": true, "type": true, "etag": true}

func formatTable(v any, queryActive bool, transformer any) (string, error) {
	fail := func() (string, error) { return "", &Error{Message: tableUnavailable, ExitCode: 1} }
	result := v
	if transformer != nil && !queryActive {
		switch t := transformer.(type) {
		case string:
			q, err := compileQuery(t)
			if err != nil {
				return fail()
			}
			if result, err = q.search(result); err != nil {
				return fail()
			}
		case func(any) any:
			var err error
			if result, err = normalize(t(export(result))); err != nil {
				return fail()
			}
		default:
			return fail()
		}
	}
	list := []any{result}
	if a, ok := result.(*array); ok {
		list = a.items
	}
	sortKeys := !queryActive && transformer == nil
	rows := make([]*object, len(list))
	for i, item := range list {
		rows[i] = autoTableItem(item, sortKeys)
	}
	if len(rows) == 0 {
		return "\n", nil
	}
	s := tabulate(rows)
	if s == "\n" {
		return fail()
	}
	return s + "\n", nil
}

func capitalizeFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	return pyUpper(r[0]) + string(r[1:])
}

func autoTableItem(item any, sortKeys bool) *object {
	entry := newObject(true)
	switch t := item.(type) {
	case *object:
		keys := t.keys
		if sortKeys {
			keys = t.sortedKeys()
		}
		for _, k := range keys {
			if tableSkipKeys[k] {
				continue
			}
			x := t.vals[k]
			switch x.(type) {
			case nil, *object, *array:
				continue
			}
			entry.set(capitalizeFirst(k), x)
		}
	case *array:
		for i, x := range t.items {
			entry.set(fmt.Sprintf("Column%d", i+1), x)
		}
	default:
		entry.set("Result", item)
	}
	return entry
}
