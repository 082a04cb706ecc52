package ml

import (
	"context"
	"net/http"
	"regexp"

	"github.com/amlid/amlid/internal/arm"
	"github.com/google/uuid"
)

// registerInsights declares a minimal Microsoft.Insights/components: what a
// workspace links to (applicationInsights) and what listKeys reads
// (InstrumentationKey). Telemetry itself is not collected.
func (p *Provider) registerInsights(reg *arm.Registry) {
	reg.Register(&arm.ResourceType{
		Namespace:    "Microsoft.Insights",
		Path:         "components",
		APIVersions:  []string{"2015-05-01", "2018-05-01-preview", "2020-02-02", "2020-02-02-preview"},
		Tracked:      true,
		CreateStatus: http.StatusOK, // the Go client accepts 200 only (arm-and-rbac.md §5)
		Name: arm.NameRule{Min: 1, Max: 255, Pattern: regexp.MustCompile(`^[^%&\\?/#<>]+$`),
			Hint: "no %&\\?/#<> characters"},
		Validate: p.validateInsights,
	})
}

func (p *Provider) validateInsights(ctx context.Context, w *arm.Write) error {
	nu, old := w.New, w.Old
	if nu.Kind == "" {
		nu.Kind = "web"
	}
	props := nu.Properties
	if props["Application_Type"] == nil {
		props["Application_Type"] = "web"
	}
	for _, k := range []string{"InstrumentationKey", "AppId", "ConnectionString", "CreationDate", "TenantId"} {
		delete(props, k)
		if old != nil && old.Prop(k) != nil {
			props[k] = old.Prop(k)
		}
	}
	if old == nil {
		key := uuid.NewString()
		props["InstrumentationKey"] = key
		props["AppId"] = uuid.NewString()
		props["ConnectionString"] = "InstrumentationKey=" + key
		props["TenantId"] = w.ID.Subscription
	}
	if props["IngestionMode"] == nil {
		props["IngestionMode"] = "ApplicationInsights"
	}
	return nil
}
