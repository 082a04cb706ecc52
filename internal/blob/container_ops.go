package blob

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/storage"
)

// maxMetadataBytes is the service's bound on names plus values.
const maxMetadataBytes = 8 << 10

// parseMetadata reads x-ms-meta-* headers (names lower-cased: Go's HTTP
// server does not keep the case a client sent).
func parseMetadata(r *http.Request) (map[string]string, error) {
	md := map[string]string{}
	total := 0
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		name, ok := strings.CutPrefix(lk, "x-ms-meta-")
		if !ok {
			continue
		}
		if !storage.ValidMetadataName(name) {
			return nil, errorf(http.StatusBadRequest, "InvalidMetadata", "The metadata specified is invalid. It has characters that are not permitted.").
				with("MetadataName", name)
		}
		v := strings.Join(vs, ",")
		md[name] = v
		total += len(name) + len(v)
	}
	if total > maxMetadataBytes {
		return nil, errorf(http.StatusBadRequest, "MetadataTooLarge", "The size of the specified metadata exceeds the maximum size permitted.")
	}
	return md, nil
}

// writeMetadata sets x-ms-meta-* headers (raw keys keep the stored case).
func writeMetadata(h http.Header, md map[string]string) {
	for k, v := range md {
		h["x-ms-meta-"+k] = []string{v}
	}
}

func (q *req) containerOrNotFound(h *Handler) (*storage.Container, error) {
	c, err := h.prov.Container(q.r.Context(), q.account, q.container)
	if errors.Is(err, storage.ErrContainerNotFound) {
		return nil, errContainerNotFound()
	}
	return c, err
}

func errPublicAccess() *Error {
	return errorf(http.StatusConflict, "PublicAccessNotPermitted", "Public access is not permitted on this storage account.")
}

func publicAccessHeader(r *http.Request) (string, error) {
	v := r.Header.Get("x-ms-blob-public-access")
	if v == "" {
		return storage.AccessNone, nil
	}
	if !strings.EqualFold(v, "container") && !strings.EqualFold(v, "blob") {
		return "", errInvalidHeader("x-ms-blob-public-access", v, "use container or blob")
	}
	a, _ := storage.NormalizePublicAccess(v)
	return a, nil
}

func (h *Handler) createContainer(q *req) error {
	name := q.container
	if len(name) < 3 || len(name) > 63 {
		return errorf(http.StatusBadRequest, "OutOfRangeInput", "The specified resource name length is not within the permissible limits.")
	}
	if !storage.ValidContainerName(name) {
		return errorf(http.StatusBadRequest, "InvalidResourceName", "The specifed resource name contains invalid characters.")
	}
	md, err := parseMetadata(q.r)
	if err != nil {
		return err
	}
	access, err := publicAccessHeader(q.r)
	if err != nil {
		return err
	}
	c, err := h.prov.CreateContainer(q.r.Context(), q.account, name, access, md)
	switch {
	case errors.Is(err, storage.ErrContainerExists):
		return errorf(http.StatusConflict, "ContainerAlreadyExists", "The specified container already exists.")
	case errors.Is(err, storage.ErrPublicAccessNotAllowed):
		return errPublicAccess()
	case err != nil:
		return err
	}
	if q.account.IsHnsEnabled {
		if err := h.initRoot(q, c); err != nil {
			return err
		}
	}
	hd := q.w.Header()
	hd.Set("ETag", c.ETag)
	hd.Set("Last-Modified", fmtTime(c.LastModified))
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

func containerHeaders(hd http.Header, c *storage.Container) {
	hd.Set("ETag", c.ETag)
	hd.Set("Last-Modified", fmtTime(c.LastModified))
	writeMetadata(hd, c.Metadata)
	hd.Set("x-ms-lease-status", "unlocked")
	hd.Set("x-ms-lease-state", "available")
	hd.Set("x-ms-has-immutability-policy", "false")
	hd.Set("x-ms-has-legal-hold", "false")
	hd.Set("x-ms-default-encryption-scope", "$account-encryption-key")
	hd.Set("x-ms-deny-encryption-scope-override", "false")
	hd.Set("x-ms-immutable-storage-with-versioning-enabled", "false")
	if c.PublicAccess != storage.AccessNone {
		hd.Set("x-ms-blob-public-access", strings.ToLower(c.PublicAccess))
	}
}

func (h *Handler) getContainerProperties(q *req) error {
	c, err := q.containerOrNotFound(h)
	if err != nil {
		return err
	}
	containerHeaders(q.w.Header(), c)
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func containerTarget(c *storage.Container) target {
	return target{exists: true, etag: c.ETag, modified: c.LastModified}
}

func (h *Handler) deleteContainer(q *req) error {
	if q.r.Header.Get("If-Match") != "" || q.r.Header.Get("If-None-Match") != "" {
		return errorf(http.StatusBadRequest, "UnsupportedHeader", "One of the HTTP headers specified in the request is not supported.").
			with("HeaderName", "If-Match/If-None-Match")
	}
	err := h.prov.DeleteContainer(q.r.Context(), q.account, q.container, func(c *storage.Container) error {
		if e := checkConditions(q.r, containerTarget(c), condWrite); e != nil {
			return e
		}
		return nil
	})
	if errors.Is(err, storage.ErrContainerNotFound) {
		return errContainerNotFound()
	}
	if err != nil {
		return err
	}
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

func (h *Handler) setContainerMetadata(q *req) error {
	md, err := parseMetadata(q.r)
	if err != nil {
		return err
	}
	c, err := h.prov.UpdateContainer(q.r.Context(), q.account, q.container, func(c *storage.Container) error {
		if e := checkConditions(q.r, containerTarget(c), condWrite); e != nil {
			return e
		}
		c.Metadata = md
		return nil
	})
	if errors.Is(err, storage.ErrContainerNotFound) {
		return errContainerNotFound()
	}
	if err != nil {
		return err
	}
	q.w.Header().Set("ETag", c.ETag)
	q.w.Header().Set("Last-Modified", fmtTime(c.LastModified))
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// ---- ACL ----

type xmlAccessPolicy struct {
	Start      string `xml:"Start,omitempty"`
	Expiry     string `xml:"Expiry,omitempty"`
	Permission string `xml:"Permission,omitempty"`
}

type xmlSignedIdentifier struct {
	ID           string          `xml:"Id"`
	AccessPolicy xmlAccessPolicy `xml:"AccessPolicy"`
}

type xmlSignedIdentifiers struct {
	XMLName xml.Name              `xml:"SignedIdentifiers"`
	Items   []xmlSignedIdentifier `xml:"SignedIdentifier"`
}

func (h *Handler) getContainerACL(q *req) error {
	c, err := q.containerOrNotFound(h)
	if err != nil {
		return err
	}
	doc := xmlSignedIdentifiers{}
	for _, s := range c.SignedIdentifiers {
		doc.Items = append(doc.Items, xmlSignedIdentifier{ID: s.ID, AccessPolicy: xmlAccessPolicy{Start: s.Start, Expiry: s.Expiry, Permission: s.Permission}})
	}
	hd := q.w.Header()
	hd.Set("ETag", c.ETag)
	hd.Set("Last-Modified", fmtTime(c.LastModified))
	if c.PublicAccess != storage.AccessNone {
		hd.Set("x-ms-blob-public-access", strings.ToLower(c.PublicAccess))
	}
	return writeXML(q, http.StatusOK, doc)
}

// readSmallBody reads a bounded request body (XML documents).
func readSmallBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit.").
			with("MaxLimit", strconv.FormatInt(limit, 10))
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "InvalidInput", "One of the request inputs is not valid.").with("Reason", err.Error())
	}
	if int64(len(b)) > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit.").
			with("MaxLimit", strconv.FormatInt(limit, 10))
	}
	return b, nil
}

func errBadXML(why string) *Error {
	return errorf(http.StatusBadRequest, "InvalidXmlDocument", "XML specified is not syntactically valid.").with("Reason", why)
}

func (h *Handler) setContainerACL(q *req) error {
	access, err := publicAccessHeader(q.r)
	if err != nil {
		return err
	}
	body, err := readSmallBody(q.r, 64<<10)
	if err != nil {
		return err
	}
	var ids []storage.SignedIdentifier
	if len(strings.TrimSpace(string(body))) > 0 {
		var doc xmlSignedIdentifiers
		if err := xml.Unmarshal(body, &doc); err != nil {
			return errBadXML(err.Error())
		}
		if len(doc.Items) > 5 {
			return errBadXML("at most 5 signed identifiers may be set on a container")
		}
		for _, it := range doc.Items {
			if it.ID == "" || len(it.ID) > 64 {
				return errBadXML("a signed identifier Id must be 1 to 64 characters")
			}
			for _, t := range []string{it.AccessPolicy.Start, it.AccessPolicy.Expiry} {
				if t != "" {
					if _, err := parseSASTime(t); err != nil {
						return errBadXML("'" + t + "' is not an ISO 8601 time")
					}
				}
			}
			ids = append(ids, storage.SignedIdentifier{ID: it.ID, Start: it.AccessPolicy.Start, Expiry: it.AccessPolicy.Expiry, Permission: it.AccessPolicy.Permission})
		}
	}
	if access != storage.AccessNone && !q.account.AllowBlobPublicAccess {
		return errPublicAccess()
	}
	c, err := h.prov.UpdateContainer(q.r.Context(), q.account, q.container, func(c *storage.Container) error {
		if e := checkConditions(q.r, containerTarget(c), condWrite); e != nil {
			return e
		}
		c.PublicAccess, c.SignedIdentifiers = access, ids
		return nil
	})
	switch {
	case errors.Is(err, storage.ErrContainerNotFound):
		return errContainerNotFound()
	case errors.Is(err, storage.ErrPublicAccessNotAllowed):
		return errPublicAccess()
	case err != nil:
		return err
	}
	q.w.Header().Set("ETag", c.ETag)
	q.w.Header().Set("Last-Modified", fmtTime(c.LastModified))
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// ---- list containers ----

type xmlContainerProps struct {
	LastModified                string `xml:"Last-Modified"`
	Etag                        string `xml:"Etag"`
	LeaseStatus                 string `xml:"LeaseStatus"`
	LeaseState                  string `xml:"LeaseState"`
	PublicAccess                string `xml:"PublicAccess,omitempty"`
	DefaultEncryptionScope      string `xml:"DefaultEncryptionScope"`
	DenyEncryptionScopeOverride bool   `xml:"DenyEncryptionScopeOverride"`
	HasImmutabilityPolicy       bool   `xml:"HasImmutabilityPolicy"`
	HasLegalHold                bool   `xml:"HasLegalHold"`
}

type xmlMetadata struct {
	Items []xmlMetaItem
}

type xmlMetaItem struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

func metadataXML(md map[string]string) *xmlMetadata {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m := &xmlMetadata{}
	for _, k := range keys {
		m.Items = append(m.Items, xmlMetaItem{XMLName: xml.Name{Local: k}, Value: md[k]})
	}
	return m
}

type xmlContainers struct {
	Items []xmlContainer `xml:"Container"`
}

type xmlContainer struct {
	Name       string            `xml:"Name"`
	Properties xmlContainerProps `xml:"Properties"`
	Metadata   *xmlMetadata      `xml:"Metadata,omitempty"`
}

type xmlContainerList struct {
	XMLName         xml.Name      `xml:"EnumerationResults"`
	ServiceEndpoint string        `xml:"ServiceEndpoint,attr"`
	Prefix          string        `xml:"Prefix,omitempty"`
	Marker          string        `xml:"Marker,omitempty"`
	MaxResults      int           `xml:"MaxResults,omitempty"`
	Containers      xmlContainers `xml:"Containers"`
	NextMarker      string        `xml:"NextMarker"`
}

func (q *req) serviceEndpoint() string {
	if hostStyleAccount(q.r.Host) != "" {
		return "https://" + q.r.Host + "/"
	}
	return "https://" + q.r.Host + "/" + q.account.Name + "/"
}

// maxResults parses maxresults (1..5000, default 5000).
func (q *req) maxResults() (int, error) {
	v := q.query("maxresults")
	if v == "" {
		return 5000, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errorf(http.StatusBadRequest, "OutOfRangeQueryParameterValue", "One of the query parameters specified in the request URI is outside the permissible range.").
			with("QueryParameterName", "maxresults").with("QueryParameterValue", v).with("MinimumAllowed", "1").with("MaximumAllowed", "5000")
	}
	return min(n, 5000), nil
}

func (q *req) includes(what string) bool {
	for _, v := range q.q["include"] {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), what) {
				return true
			}
		}
	}
	return false
}

func (h *Handler) listContainers(q *req) error {
	max, err := q.maxResults()
	if err != nil {
		return err
	}
	prefix, marker := q.query("prefix"), q.query("marker")
	after := ""
	if marker != "" {
		m, err := h.decodeMarker(q.r.Context(), "containers|"+strings.ToLower(q.account.Name), marker)
		if err != nil {
			return err
		}
		after = m.name
	}
	cs, err := h.prov.ListContainers(q.r.Context(), q.account, prefix, after, max+1)
	if err != nil {
		return err
	}
	doc := xmlContainerList{ServiceEndpoint: q.serviceEndpoint(), Prefix: prefix, Marker: marker}
	if q.has("maxresults") {
		doc.MaxResults = max
	}
	if len(cs) > max {
		cs = cs[:max]
		if doc.NextMarker, err = h.encodeMarker(q.r.Context(), "containers|"+strings.ToLower(q.account.Name), listMarker{name: cs[len(cs)-1].Name}); err != nil {
			return err
		}
	}
	withMeta := q.includes("metadata")
	for _, c := range cs {
		x := xmlContainer{Name: c.Name, Properties: xmlContainerProps{
			LastModified: fmtTime(c.LastModified), Etag: c.ETag, LeaseStatus: "unlocked", LeaseState: "available",
			DefaultEncryptionScope: "$account-encryption-key",
		}}
		if c.PublicAccess != storage.AccessNone {
			x.Properties.PublicAccess = strings.ToLower(c.PublicAccess)
		}
		if withMeta {
			x.Metadata = metadataXML(c.Metadata)
		}
		doc.Containers.Items = append(doc.Containers.Items, x)
	}
	return writeXML(q, http.StatusOK, doc)
}

// writeXML writes an XML document with the declaration.
func writeXML(q *req, status int, v any) error {
	b, err := xml.Marshal(v)
	if err != nil {
		return err
	}
	out := append([]byte(`<?xml version="1.0" encoding="utf-8"?>`), b...)
	hd := q.w.Header()
	hd.Set("Content-Type", "application/xml")
	hd.Set("Content-Length", strconv.Itoa(len(out)))
	q.w.WriteHeader(status)
	if q.r.Method != http.MethodHead {
		_, _ = q.w.Write(out)
	}
	return nil
}

// ---- service-level ----

const defaultServiceProperties = `<StorageServiceProperties><Logging><Version>1.0</Version><Read>false</Read><Write>false</Write><Delete>false</Delete><RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></Logging><HourMetrics><Version>1.0</Version><Enabled>false</Enabled><RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></HourMetrics><MinuteMetrics><Version>1.0</Version><Enabled>false</Enabled><RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></MinuteMetrics><Cors /><DeleteRetentionPolicy><Enabled>false</Enabled></DeleteRetentionPolicy><StaticWebsite><Enabled>false</Enabled></StaticWebsite></StorageServiceProperties>`

type rawXML struct {
	XMLName xml.Name
	Inner   []byte `xml:",innerxml"`
}

func (h *Handler) getServiceProperties(q *req) error {
	var doc rawXML
	_ = xml.Unmarshal([]byte(defaultServiceProperties), &doc)
	return writeXML(q, http.StatusOK, doc)
}

func (h *Handler) setServiceProperties(q *req) error {
	body, err := readSmallBody(q.r, 256<<10)
	if err != nil {
		return err
	}
	var doc rawXML
	if err := xml.Unmarshal(body, &doc); err != nil || doc.XMLName.Local != "StorageServiceProperties" {
		return errBadXML("the body must be a StorageServiceProperties document")
	}
	// Accepted and not kept: amlid has no logging, metrics, CORS or static
	// website features to configure.
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

func (h *Handler) getServiceStats(q *req) error {
	doc := rawXML{XMLName: xml.Name{Local: "StorageServiceStats"},
		Inner: []byte("<GeoReplication><Status>live</Status><LastSyncTime>" + fmtTime(h.now()) + "</LastSyncTime></GeoReplication>")}
	return writeXML(q, http.StatusOK, doc)
}

func (h *Handler) getAccountInfo(q *req) error {
	hd := q.w.Header()
	hd.Set("x-ms-sku-name", q.account.SKU)
	hd.Set("x-ms-account-kind", q.account.Kind)
	hd.Set("x-ms-is-hns-enabled", strconv.FormatBool(q.account.IsHnsEnabled))
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}
