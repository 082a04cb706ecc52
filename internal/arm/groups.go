package arm

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
)

const rgType = "Microsoft.Resources/resourceGroups"

// Resource group names: 1–90 of letters, digits, underscores, hyphens,
// periods and parentheses, not ending in a period.
var rgName = regexp.MustCompile(`^[-\w._()]{1,90}$`)

func checkRGName(n string) error {
	if !rgName.MatchString(n) || strings.HasSuffix(n, ".") {
		return Errorf(http.StatusBadRequest, "InvalidResourceGroupName",
			"The resource group name '%s' is invalid. It can be 1 to 90 letters, digits, underscores, hyphens, periods and parentheses, and cannot end in a period.", n)
	}
	return nil
}

func rgNotFound(name string) error {
	return Errorf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
}

// GetResourceGroup reads a resource group (nil, 404 error if missing).
func (s *Server) GetResourceGroup(c *Call, sub, name string) (*Resource, error) {
	id := ID{Subscription: sub, ResourceGroup: name}
	rec, err := s.cfg.Store.Get(c.Ctx(), KindResource, id.Key())
	if errors.Is(err, store.ErrNotFound) {
		return nil, rgNotFound(name)
	}
	if err != nil {
		return nil, err
	}
	return DecodeResource(rec.Value)
}

func (s *Server) serveResourceGroups(w http.ResponseWriter, c *Call, sub directory.Subscription, segs []string) error {
	subID := "/subscriptions/" + sub.ID
	if len(segs) == 0 {
		if c.R.Method != http.MethodGet {
			return methodNotAllowed(c)
		}
		if err := c.Authorize("Microsoft.Resources/subscriptions/resourceGroups/read", subID); err != nil {
			return err
		}
		return s.writePage(w, c, KindResource, store.PageOptions{Parent: Normalize(subID)}, func(rec store.Record) (any, error) {
			return DecodeResource(rec.Value)
		})
	}
	name := segs[0]
	if len(segs) > 1 {
		switch {
		case len(segs) == 2 && strings.EqualFold(segs[1], "resources"):
			if _, err := s.GetResourceGroup(c, sub.ID, name); err != nil {
				return err
			}
			return s.listResources(w, c, subID+"/resourceGroups/"+name)
		case strings.EqualFold(segs[1], "providers"):
			return s.serveResource(w, c, sub, name, segs[2:])
		}
		return Errorf(http.StatusNotFound, "NotFound", "No Resource Manager operation matches '%s'.", c.R.URL.Path)
	}
	if err := checkRGName(name); err != nil {
		return err
	}
	id := ID{Subscription: sub.ID, ResourceGroup: name}
	scope := id.String()
	switch c.R.Method {
	case http.MethodGet, http.MethodHead:
		if err := c.Authorize("Microsoft.Resources/subscriptions/resourceGroups/read", scope); err != nil {
			return err
		}
		r, err := s.GetResourceGroup(c, sub.ID, name)
		if c.R.Method == http.MethodHead {
			if err != nil {
				if e := AsError(err); e.Status == http.StatusNotFound {
					w.WriteHeader(http.StatusNotFound)
					return nil
				}
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, r)
		return nil
	case http.MethodPut, http.MethodPatch:
		if err := c.Authorize("Microsoft.Resources/subscriptions/resourceGroups/write", scope); err != nil {
			return err
		}
		return s.putResourceGroup(w, c, id)
	case http.MethodDelete:
		if err := c.Authorize("Microsoft.Resources/subscriptions/resourceGroups/delete", scope); err != nil {
			return err
		}
		return s.deleteResourceGroup(w, c, id)
	}
	return methodNotAllowed(c)
}

func (s *Server) putResourceGroup(w http.ResponseWriter, c *Call, id ID) error {
	body, err := readBody(c.R)
	if err != nil {
		return err
	}
	var in struct {
		Location  string            `json:"location"`
		Tags      map[string]string `json:"tags"`
		ManagedBy string            `json:"managedBy"`
	}
	if err := DecodeJSON(body, &in); err != nil {
		return err
	}
	var tagsPresent struct {
		Tags *map[string]string `json:"tags"`
	}
	_ = DecodeJSON(body, &tagsPresent)
	if err := checkTags(in.Tags); err != nil {
		return err
	}
	patch := c.R.Method == http.MethodPatch
	status := http.StatusOK
	var out *Resource
	err = s.cfg.Store.Tx(c.Ctx(), func(tx store.Tx) error {
		rec, err := tx.Get(c.Ctx(), KindResource, id.Key())
		exists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := checkConditions(c.R, exists, rec.ETag); err != nil {
			return err
		}
		now := time.Now().UTC()
		var r *Resource
		if exists {
			if r, err = DecodeResource(rec.Value); err != nil {
				return err
			}
			if in.Location != "" && !strings.EqualFold(in.Location, r.Location) {
				return Errorf(http.StatusConflict, "InvalidResourceGroupLocation",
					"Invalid resource group location '%s'. The Resource group already exists in location '%s'.", in.Location, r.Location)
			}
			if !patch || tagsPresent.Tags != nil {
				r.Tags = in.Tags
			}
		} else {
			if patch {
				return rgNotFound(id.ResourceGroup)
			}
			if in.Location == "" {
				return Errorf(http.StatusBadRequest, "LocationRequired", "The location property is required for this definition.")
			}
			status = http.StatusCreated
			r = &Resource{
				ID: id.String(), Name: id.ResourceGroup, Type: rgType, Location: strings.ToLower(strings.ReplaceAll(in.Location, " ", "")),
				Tags: in.Tags, Properties: map[string]any{"provisioningState": "Succeeded"},
				SystemData: &SystemData{CreatedAt: now},
			}
		}
		if in.ManagedBy != "" {
			r.Properties["managedBy"] = in.ManagedBy
		}
		stampModified(r, c, now)
		b, err := encodeResource(r)
		if err != nil {
			return err
		}
		_, err = tx.Put(c.Ctx(), store.Record{Kind: KindResource, Key: id.Key(), Parent: Normalize(id.SubscriptionID()), Value: b}, "")
		out = r
		return err
	})
	if err != nil {
		return err
	}
	WriteJSON(w, status, out)
	return nil
}

func (s *Server) deleteResourceGroup(w http.ResponseWriter, c *Call, id ID) error {
	var deleted []*Resource
	err := s.cfg.Store.Tx(c.Ctx(), func(tx store.Tx) error {
		rec, err := tx.Get(c.Ctx(), KindResource, id.Key())
		if errors.Is(err, store.ErrNotFound) {
			return rgNotFound(id.ResourceGroup)
		}
		if err != nil {
			return err
		}
		if err := checkConditions(c.R, true, rec.ETag); err != nil {
			return err
		}
		if deleted, err = s.deleteBelow(c, tx, id.Key()); err != nil {
			return err
		}
		return tx.Delete(c.Ctx(), KindResource, id.Key(), "")
	})
	if err != nil {
		return err
	}
	for _, res := range deleted {
		s.afterDelete(c, res)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func checkTags(tags map[string]string) error {
	if len(tags) > 50 {
		return Errorf(http.StatusBadRequest, "InvalidTagCount", "A resource can have at most 50 tags; %d were given.", len(tags))
	}
	for k, v := range tags {
		if k == "" || len(k) > 512 || len(v) > 256 || strings.ContainsAny(k, "<>%&\\?/") {
			return Errorf(http.StatusBadRequest, "InvalidTagNameCharacters",
				"The tag '%s' is invalid: names are 1-512 characters without <>%%&\\?/ and values at most 256 characters.", k)
		}
	}
	return nil
}

// checkConditions applies If-Match / If-None-Match (412 PreconditionFailed).
func checkConditions(r *http.Request, exists bool, etag string) error {
	im, inm := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	fail := func(msg string) error {
		return Errorf(http.StatusPreconditionFailed, "PreconditionFailed", "%s", msg)
	}
	if im != "" {
		if !exists {
			return fail("The resource does not exist, but If-Match was given.")
		}
		if im != "*" && strings.Trim(im, `"`) != strings.Trim(etag, `"`) {
			return fail("The If-Match ETag does not match the resource's current ETag.")
		}
	}
	if inm != "" && exists && (inm == "*" || strings.Trim(inm, `"`) == strings.Trim(etag, `"`)) {
		return fail("The resource already exists and If-None-Match was given.")
	}
	return nil
}

func stampModified(r *Resource, c *Call, now time.Time) {
	if r.SystemData == nil {
		r.SystemData = &SystemData{CreatedAt: now}
	}
	by, typ := "", ""
	if c.Caller != nil {
		by, typ = c.Caller.Name, c.Caller.Type
		if by == "" {
			by = c.Caller.ObjectID
		}
		if typ == "ServicePrincipal" {
			typ = "Application"
		}
	}
	if r.SystemData.CreatedBy == "" && r.SystemData.CreatedAt.Equal(now) {
		r.SystemData.CreatedBy, r.SystemData.CreatedByType = by, typ
	}
	r.SystemData.LastModifiedAt, r.SystemData.LastModifiedBy, r.SystemData.LastModifiedByType = now, by, typ
}
