package cli

import (
	"context"
	"net/http"
	"net/url"
)

// armID is the ARM path of a resource of type typ
// ("Microsoft.Storage/storageAccounts"): in group, or in the whole
// subscription when group is ""; the collection itself when name is "".
func armID(sub, group, typ, name string) string {
	p := "/subscriptions/" + sub
	if group != "" {
		p += "/resourceGroups/" + url.PathEscape(group)
	}
	p += "/providers/" + typ
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// groupResourcePath is the ARM path of the resource name of type typ in
// the -g group (the configured default when group is ""). The
// subscription, the group and the name are required, in that order;
// nameFlag is the flag az's error names ("--name/-n").
func (a *app) groupResourcePath(group, typ, name, nameFlag string) (string, error) {
	sub, err := a.subscriptionID()
	if err != nil {
		return "", err
	}
	g, err := a.resourceGroup(group)
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", usageErr("the following arguments are required: %s", nameFlag)
	}
	return armID(sub, g, typ, name), nil
}

// listPath is the ARM path that lists the resources of type typ: in group,
// or in the whole subscription when group is "".
func (a *app) listPath(group, typ string) (string, error) {
	sub, err := a.subscriptionID()
	if err != nil {
		return "", err
	}
	return armID(sub, group, typ, ""), nil
}

// createLocation is the location a create sends, as az picks it: --location,
// else `amlid configure --defaults location=…`, else the group's.
func (a *app) createLocation(ctx context.Context, flag, group string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if l := a.settings.defaultValue("location"); l != "" {
		return l, nil
	}
	return a.groupLocation(ctx, group)
}

// groupLocation reads a resource group's location (az's default location).
func (a *app) groupLocation(ctx context.Context, group string) (string, error) {
	g, err := a.resourceGroup(group)
	if err != nil {
		return "", err
	}
	p, err := a.rgPath(g)
	if err != nil {
		return "", err
	}
	rg, err := a.armRequest(ctx, http.MethodGet, p, apiResources, nil)
	if err != nil {
		return "", err
	}
	l, _ := rg.(map[string]any)["location"].(string)
	return l, nil
}
