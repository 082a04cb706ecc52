// Package output renders command results the way Azure CLI 2.45 (knack)
// does for -o json|jsonc|tsv|table|yaml|yamlc|none, after an optional
// JMESPath --query. Parity notes cite knack/output.py.
package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	jmespath "github.com/jmespath-community/go-jmespath"
	"github.com/jmespath-community/go-jmespath/pkg/parsing"
	"sigs.k8s.io/yaml"
)

// Format is an output format.
type Format string

// The formats az accepts.
const (
	JSON  Format = "json"
	JSONC Format = "jsonc"
	TSV   Format = "tsv"
	Table Format = "table"
	YAML  Format = "yaml"
	YAMLC Format = "yamlc"
	None  Format = "none"
)

var formats = []string{"json", "jsonc", "none", "table", "tsv", "yaml", "yamlc"}

// ParseFormat validates -o like az's argparse choices.
func ParseFormat(s string) (Format, error) {
	for _, f := range formats {
		if s == f {
			return Format(s), nil
		}
	}
	return "", fmt.Errorf("argument --output/-o: invalid choice: '%s' (choose from '%s')", s, strings.Join(formats, "', '"))
}

// Render normalises result to JSON values, applies query and writes it in
// format. color only affects jsonc/yamlc on a terminal (rendered plain here).
func Render(w io.Writer, result any, format Format, query string, color bool) error {
	v, err := normalize(result)
	if err != nil {
		return err
	}
	var order []string
	if query != "" {
		expr, err := jmespath.Compile(query)
		if err != nil {
			return fmt.Errorf("argument --query: invalid jmespath_type value: '%s'", query)
		}
		if v, err = expr.Search(v); err != nil {
			return fmt.Errorf("argument --query: %v", err)
		}
		order = hashKeyOrder(query)
	}
	var out string
	switch format {
	case JSON, JSONC, "":
		out, err = renderJSON(v)
	case TSV:
		out = renderTSV(v, order, query != "")
	case Table:
		out, err = renderTable(v, order, query != "")
	case YAML, YAMLC:
		out, err = renderYAML(v)
	case None:
		return nil
	default:
		_, err = ParseFormat(string(format))
	}
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, out)
	return err
}

// normalize turns any Go value into plain JSON values (map[string]any,
// []any, string, float64, bool, nil).
func normalize(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// hashKeyOrder finds the key order of the multiselect hash that shapes the
// result ({a:…, b:…}), which knack keeps (OrderedDict) once --query is on.
func hashKeyOrder(query string) []string {
	ast, err := parsing.NewParser().Parse(query)
	if err != nil {
		return nil
	}
	var found []string
	var walk func(n parsing.ASTNode, depth int, best *int)
	best := -1
	walk = func(n parsing.ASTNode, depth int, b *int) {
		if n.NodeType == parsing.ASTMultiSelectHash && (found == nil || depth <= *b) {
			var keys []string
			for _, kv := range n.Children {
				if s, ok := kv.Value.(string); ok {
					keys = append(keys, s)
				}
			}
			found, *b = keys, depth
			return
		}
		for _, c := range n.Children {
			walk(c, depth+1, b)
		}
	}
	walk(ast, 0, &best)
	return found
}

// renderJSON is json.dumps(indent=2, sort_keys=True, ensure_ascii=False).
func renderJSON(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(pyNumbers(v)); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// pyNumbers turns integral floats into json.Number integers, so 5 prints as
// 5 (as Python does for ints).
func pyNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = pyNumbers(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = pyNumbers(x)
		}
		return out
	case float64:
		return json.Number(pyNum(t))
	}
	return v
}

func pyNum(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// pyStr is Python's str() of a JSON scalar.
func pyStr(v any) string {
	switch t := v.(type) {
	case nil:
		return "None"
	case bool:
		if t {
			return "True"
		}
		return "False"
	case float64:
		return pyNum(t)
	case string:
		return t
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// orderedKeys: the query's hash order when active, else sorted.
func orderedKeys(m map[string]any, order []string, queryActive bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if !queryActive || len(order) == 0 {
		return keys
	}
	pos := map[string]int{}
	for i, k := range order {
		pos[k] = i
	}
	sort.SliceStable(keys, func(i, j int) bool {
		pi, iok := pos[keys[i]]
		pj, jok := pos[keys[j]]
		switch {
		case iok && jok:
			return pi < pj
		case iok != jok:
			return iok
		}
		return false
	})
	return keys
}

// renderTSV is knack's _TsvOutput.
func renderTSV(v any, order []string, queryActive bool) string {
	rows, ok := v.([]any)
	if !ok {
		rows = []any{v}
	}
	var b strings.Builder
	for _, row := range rows {
		switch t := row.(type) {
		case map[string]any:
			for i, k := range orderedKeys(t, order, queryActive) {
				if i > 0 {
					b.WriteByte('\t')
				}
				tsvObj(&b, t[k])
			}
		case []any:
			for i, x := range t {
				if i > 0 {
					b.WriteByte('\t')
				}
				tsvObj(&b, x)
			}
		case bool:
			b.WriteString(strings.ToLower(pyStr(t)))
		default:
			tsvObj(&b, t)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func tsvObj(b *strings.Builder, v any) {
	switch t := v.(type) {
	case []any:
		b.WriteString(strconv.Itoa(len(t)))
	case map[string]any:
	default:
		b.WriteString(pyStr(t))
	}
}

var skipTableKeys = map[string]bool{"id": true, "type": true, "etag": true}

// renderTable is knack's _TableOutput with tabulate's "simple" format.
func renderTable(v any, order []string, queryActive bool) (string, error) {
	rows, ok := v.([]any)
	if !ok {
		rows = []any{v}
	}
	var headers []string
	seen := map[string]bool{}
	var data []map[string]string
	for _, row := range rows {
		entry := map[string]string{}
		add := func(h, val string) {
			if !seen[h] {
				seen[h] = true
				headers = append(headers, h)
			}
			entry[h] = val
		}
		switch t := row.(type) {
		case map[string]any:
			for _, k := range orderedKeys(t, order, queryActive) {
				x := t[k]
				if skipTableKeys[k] || x == nil {
					continue
				}
				switch x.(type) {
				case map[string]any, []any:
					continue
				}
				add(strings.ToUpper(k[:1])+k[1:], pyStr(x))
			}
		case []any:
			for i, x := range t {
				add(fmt.Sprintf("Column%d", i+1), pyStr(x))
			}
		default:
			add("Result", pyStr(t))
		}
		data = append(data, entry)
	}
	if len(data) == 0 {
		return "\n", nil
	}
	if len(headers) == 0 {
		return "", fmt.Errorf("Table output unavailable. Use the --query option to specify an appropriate query. Use --debug for more info.")
	}
	width := make([]int, len(headers))
	for i, h := range headers {
		width[i] = len([]rune(h)) + 2 // tabulate MIN_PADDING on headers
		for _, d := range data {
			width[i] = max(width[i], len([]rune(d[h])))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		var l strings.Builder
		for i, c := range cells {
			if i > 0 {
				l.WriteString("  ")
			}
			l.WriteString(c)
			l.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))))
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	line(headers)
	dashes := make([]string, len(headers))
	for i := range headers {
		dashes[i] = strings.Repeat("-", width[i])
	}
	line(dashes)
	for _, d := range data {
		cells := make([]string, len(headers))
		for i, h := range headers {
			cells[i] = d[h]
		}
		line(cells)
	}
	return b.String(), nil
}

// renderYAML is yaml.safe_dump(default_flow_style=False): sorted keys, block
// style, and "..." after a top-level scalar.
func renderYAML(v any) (string, error) {
	b, err := yaml.Marshal(pyNumbers(v))
	if err != nil {
		return "", err
	}
	s := string(b)
	switch v.(type) {
	case map[string]any, []any:
	default:
		s += "...\n"
	}
	return s, nil
}
