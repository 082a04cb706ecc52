package arm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Resource is the generic ARM envelope. Type-specific fields live in
// Properties (and SKU); each type's Validate hook checks them.
type Resource struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	SKU        map[string]any    `json:"sku,omitempty"`
	Identity   *Identity         `json:"identity,omitempty"`
	Properties map[string]any    `json:"properties,omitempty"`
	ETag       string            `json:"etag,omitempty"`
	SystemData *SystemData       `json:"systemData,omitempty"`
	// Internal is state a type keeps with the resource but never returns
	// (keys, secrets, bookkeeping). It is stored, never marshalled to a
	// client.
	Internal map[string]any `json:"-"`
}

// SystemData is ARM's creation/modification metadata.
type SystemData struct {
	CreatedBy          string    `json:"createdBy,omitempty"`
	CreatedByType      string    `json:"createdByType,omitempty"`
	CreatedAt          time.Time `json:"createdAt"`
	LastModifiedBy     string    `json:"lastModifiedBy,omitempty"`
	LastModifiedByType string    `json:"lastModifiedByType,omitempty"`
	LastModifiedAt     time.Time `json:"lastModifiedAt"`
}

// Prop returns properties[k] (nil when absent).
func (r *Resource) Prop(k string) any {
	if r.Properties == nil {
		return nil
	}
	return r.Properties[k]
}

// SetProp sets properties[k].
func (r *Resource) SetProp(k string, v any) {
	if r.Properties == nil {
		r.Properties = map[string]any{}
	}
	r.Properties[k] = v
}

// StringProp returns properties[k] as a string ("" when absent or not a string).
func (r *Resource) StringProp(k string) string {
	s, _ := r.Prop(k).(string)
	return s
}

// stored is the record layout: the resource plus its internal state.
type stored struct {
	Resource *Resource      `json:"resource"`
	Internal map[string]any `json:"internal,omitempty"`
}

func encodeResource(r *Resource) ([]byte, error) {
	return json.Marshal(stored{Resource: r, Internal: r.Internal})
}

// DecodeResource reads a stored record value.
func DecodeResource(b []byte) (*Resource, error) {
	var s stored
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if s.Resource == nil {
		return nil, fmt.Errorf("arm: stored resource is empty")
	}
	s.Resource.Internal = s.Internal
	return s.Resource, nil
}

// Clone deep-copies r through JSON (internal state included).
func (r *Resource) Clone() *Resource {
	b, _ := encodeResource(r)
	c, _ := DecodeResource(b)
	return c
}

// MaxBodyBytes bounds request bodies (ARM's own limit is 4 MB).
const MaxBodyBytes = 4 << 20

// ReadBody reads a bounded request body (ARM errors for too large).
func ReadBody(r *http.Request) ([]byte, error) { return readBody(r) }

// readBody reads a bounded body.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := readAllLimited(r.Body, MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func readAllLimited(rd interface{ Read([]byte) (int, error) }, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(&limitedReader{r: rd, n: limit + 1})
	if err != nil {
		return nil, Errorf(http.StatusBadRequest, "InvalidRequestContent", "The request content could not be read: %v", err)
	}
	if n > limit {
		return nil, Errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			"The request content is larger than the %d bytes Resource Manager accepts.", limit)
	}
	return buf.Bytes(), nil
}

type limitedReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errEOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// DecodeJSON decodes a request body into v with ARM's error for bad
// content. An empty body is an error unless allowEmpty.
func DecodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return Errorf(http.StatusBadRequest, "InvalidRequestContent", "The request content was empty; a JSON object is required.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		msg := err.Error()
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case asErr(err, &te):
			msg = fmt.Sprintf("the value for '%s' must be of type %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		case asErr(err, &se):
			msg = fmt.Sprintf("malformed JSON at offset %d: %v", se.Offset, se)
		}
		return Errorf(http.StatusBadRequest, "InvalidRequestContent",
			"The request content was invalid and could not be deserialized: %s.", msg)
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "map", "struct":
		return "object"
	case "slice":
		return "array"
	case "int", "int64", "float64":
		return "number"
	}
	return k
}

// mergePatch applies an RFC 7386 JSON merge patch.
func mergePatch(dst map[string]any, patch map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range patch {
		if v == nil {
			delete(dst, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = mergePatch(dm, pm)
				continue
			}
			dst[k] = mergePatch(nil, pm)
			continue
		}
		dst[k] = v
	}
	return dst
}

// EqualFoldAny reports whether s equals one of vs, case-insensitively.
func EqualFoldAny(s string, vs ...string) bool {
	for _, v := range vs {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

// EncodeResource is the stored record value of r (its internal state
// included), for providers that update a resource record in their own
// transaction.
func EncodeResource(r *Resource) ([]byte, error) { return encodeResource(r) }
