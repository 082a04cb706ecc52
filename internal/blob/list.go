package blob

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/amlid/amlid/internal/paging"
	"github.com/amlid/amlid/internal/store"
)

// listMarker is where a listing resumes: strictly after name, or after
// every name under prefix.
type listMarker struct {
	name   string
	prefix bool
}

// Markers are opaque to clients and tamper-evident: a paging token (see
// package paging) over "n" or "p" + the item, bound to the listing (the
// container, or the account for containers). A changed or transplanted
// marker is 400 OutOfRangeQueryParameterValue.
func (h *Handler) encodeMarker(ctx context.Context, scope string, m listMarker) (string, error) {
	k := "n"
	if m.prefix {
		k = "p"
	}
	return h.pages.Token(ctx, scope, k+m.name)
}

func (h *Handler) decodeMarker(ctx context.Context, scope, s string) (listMarker, error) {
	c, err := h.pages.Cursor(ctx, scope, s)
	if errors.Is(err, paging.ErrInvalid) || (err == nil && (c == "" || (c[0] != 'n' && c[0] != 'p'))) {
		return listMarker{}, errInvalidQuery("marker", s, "not a marker this service returned for this listing")
	}
	if err != nil {
		return listMarker{}, err
	}
	return listMarker{name: c[1:], prefix: c[0] == 'p'}, nil
}

// XML of List Blobs.
type xmlBlobName struct {
	Encoded bool   `xml:"Encoded,attr,omitempty"`
	Value   string `xml:",chardata"`
}

type xmlBlobProps struct {
	CreationTime       string `xml:"Creation-Time"`
	LastModified       string `xml:"Last-Modified"`
	Etag               string `xml:"Etag"`
	ContentLength      int64  `xml:"Content-Length"`
	ContentType        string `xml:"Content-Type"`
	ContentEncoding    string `xml:"Content-Encoding"`
	ContentLanguage    string `xml:"Content-Language"`
	ContentMD5         string `xml:"Content-MD5"`
	ContentDisposition string `xml:"Content-Disposition"`
	CacheControl       string `xml:"Cache-Control"`
	BlobType           string `xml:"BlobType"`
	AccessTier         string `xml:"AccessTier"`
	AccessTierInferred *bool  `xml:"AccessTierInferred,omitempty"`
	AccessTierChange   string `xml:"AccessTierChangeTime,omitempty"`
	LeaseStatus        string `xml:"LeaseStatus"`
	LeaseState         string `xml:"LeaseState"`
	ServerEncrypted    bool   `xml:"ServerEncrypted"`
	CopyID             string `xml:"CopyId,omitempty"`
	CopySource         string `xml:"CopySource,omitempty"`
	CopyStatus         string `xml:"CopyStatus,omitempty"`
	CopyProgress       string `xml:"CopyProgress,omitempty"`
	CopyCompletionTime string `xml:"CopyCompletionTime,omitempty"`
}

type xmlBlob struct {
	XMLName    xml.Name     `xml:"Blob"`
	Name       xmlBlobName  `xml:"Name"`
	Properties xmlBlobProps `xml:"Properties"`
	Metadata   *xmlMetadata `xml:"Metadata,omitempty"`
}

type xmlBlobPrefix struct {
	XMLName xml.Name    `xml:"BlobPrefix"`
	Name    xmlBlobName `xml:"Name"`
}

type xmlBlobList struct {
	XMLName         xml.Name `xml:"EnumerationResults"`
	ServiceEndpoint string   `xml:"ServiceEndpoint,attr"`
	ContainerName   string   `xml:"ContainerName,attr"`
	Prefix          string   `xml:"Prefix,omitempty"`
	Marker          string   `xml:"Marker,omitempty"`
	MaxResults      int      `xml:"MaxResults,omitempty"`
	Delimiter       string   `xml:"Delimiter,omitempty"`
	Blobs           xmlBlobs `xml:"Blobs"`
	NextMarker      string   `xml:"NextMarker"`
}

// xmlBlobs holds Blob and BlobPrefix elements in listing order; the element
// is always written, empty or not (clients dereference it).
type xmlBlobs struct {
	Items []any
}

// xmlName encodes names XML cannot carry (control characters) the way the
// service does: Encoded="true" and percent-encoding.
func xmlName(s string) xmlBlobName {
	for _, r := range s {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xFFFE || r == 0xFFFF || r == utf8.RuneError {
			var b strings.Builder
			for i := 0; i < len(s); i++ {
				c := s[i]
				if c < 0x20 || c == '%' || c >= 0x7f {
					b.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c)|0x100, 16)[1:]))
				} else {
					b.WriteByte(c)
				}
			}
			return xmlBlobName{Encoded: true, Value: b.String()}
		}
	}
	return xmlBlobName{Value: s}
}

func blobPropsXML(b *blobRecord, withCopy bool) xmlBlobProps {
	p := xmlBlobProps{
		CreationTime: fmtTime(b.Created), LastModified: fmtTime(b.Modified), Etag: b.ETag, ContentLength: b.Size,
		ContentType: b.Props.Type, ContentEncoding: b.Props.Encoding, ContentLanguage: b.Props.Language,
		ContentDisposition: b.Props.Disposition, CacheControl: b.Props.CacheControl,
		BlobType: "BlockBlob", LeaseStatus: "unlocked", LeaseState: "available", ServerEncrypted: true,
	}
	if p.ContentType == "" {
		p.ContentType = "application/octet-stream"
	}
	if len(b.Props.MD5) > 0 {
		p.ContentMD5 = base64.StdEncoding.EncodeToString(b.Props.MD5)
	}
	if b.Tier == "" {
		p.AccessTier = "Hot"
		t := true
		p.AccessTierInferred = &t
	} else {
		p.AccessTier = b.Tier
		if !b.TierTime.IsZero() {
			p.AccessTierChange = fmtTime(b.TierTime)
		}
	}
	if withCopy && b.Copy != nil {
		p.CopyID, p.CopySource, p.CopyStatus, p.CopyProgress = b.Copy.ID, b.Copy.Source, b.Copy.Status, b.Copy.Progress
		p.CopyCompletionTime = fmtTime(b.Copy.Completion)
	}
	return p
}

// listPage is how many records one store query reads while listing.
const listPage = 1000

// maxPrefixSkip is the largest rune: resuming "after prefix+maxPrefixSkip"
// skips every name under prefix in byte order.
const maxPrefixSkip = "\U0010FFFF"

func (h *Handler) listBlobs(q *req) error {
	c, err := q.containerOrNotFound(h)
	if err != nil {
		return err
	}
	max, err := q.maxResults()
	if err != nil {
		return err
	}
	prefix, delim, marker := q.query("prefix"), q.query("delimiter"), q.query("marker")
	base := c.UID + "/"
	after := ""
	var lastPrefix string
	if marker != "" {
		m, err := h.decodeMarker(q.r.Context(), "blobs|"+c.UID, marker)
		if err != nil {
			return err
		}
		if m.prefix {
			after, lastPrefix = m.name+maxPrefixSkip, m.name
		} else {
			after = m.name
		}
	}
	doc := xmlBlobList{ServiceEndpoint: q.serviceEndpoint(), ContainerName: c.Name, Prefix: prefix, Marker: marker, Delimiter: delim}
	if q.has("maxresults") {
		doc.MaxResults = max
	}
	withMeta, withCopy := q.includes("metadata"), q.includes("copy")
	var last listMarker
	count := 0
	ctx := q.r.Context()
scan:
	for {
		opts := store.ListOptions{KeyPrefix: base + prefix, Limit: listPage}
		if delim == "" {
			opts.Limit = min(listPage, max+1) // one record per item
		}
		if after != "" {
			opts.After = base + after
		}
		recs, err := h.st.List(ctx, KindBlob, opts)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			name := strings.TrimPrefix(rec.Key, base)
			after = name
			if lastPrefix != "" && strings.HasPrefix(name, lastPrefix) {
				continue
			}
			var item any
			var m listMarker
			if delim != "" {
				if i := strings.Index(name[len(prefix):], delim); i >= 0 {
					p := name[:len(prefix)+i+len(delim)]
					item, m = xmlBlobPrefix{Name: xmlName(p)}, listMarker{name: p, prefix: true}
					lastPrefix = p
				}
			}
			if item == nil {
				var b blobRecord
				if err := json.Unmarshal(rec.Value, &b); err != nil {
					return err
				}
				x := xmlBlob{Name: xmlName(b.Name), Properties: blobPropsXML(&b, withCopy)}
				if withMeta {
					x.Metadata = metadataXML(b.Meta)
				}
				item, m = x, listMarker{name: name}
			}
			if count == max {
				if doc.NextMarker, err = h.encodeMarker(ctx, "blobs|"+c.UID, last); err != nil {
					return err
				}
				break scan
			}
			doc.Blobs.Items = append(doc.Blobs.Items, item)
			last = m
			count++
			if m.prefix {
				// Skip the rest of this prefix with a fresh query.
				after = m.name + maxPrefixSkip
				continue scan
			}
		}
		if len(recs) < listPage {
			break
		}
	}
	return writeXML(q, http.StatusOK, doc)
}
