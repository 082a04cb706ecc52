package cli

import (
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

// adAppCmd manages app registrations (az ad app …), with the redirect URIs
// the authorization-code flow checks (issue 22).
func (a *app) adAppCmd() *cobra.Command {
	appc := &cobra.Command{Use: "app", Short: "Manage app registrations (and their redirect URIs)"}
	var id, displayName string
	var web, spa, public []string
	platforms := func(c *cobra.Command, body map[string]any) {
		if c.Flags().Changed("web-redirect-uris") {
			body["web"] = map[string]any{"redirectUris": nonNil(web)}
		}
		if c.Flags().Changed("spa-redirect-uris") {
			body["spa"] = map[string]any{"redirectUris": nonNil(spa)}
		}
		if c.Flags().Changed("public-client-redirect-uris") {
			body["publicClient"] = map[string]any{"redirectUris": nonNil(public)}
		}
	}
	uriFlags := func(c *cobra.Command) {
		c.Flags().StringSliceVar(&web, "web-redirect-uris", nil, "Space-separated redirect URIs of the web platform (https, or http on localhost)")
		c.Flags().StringSliceVar(&spa, "spa-redirect-uris", nil, "Space-separated redirect URIs of the single-page-app platform")
		c.Flags().StringSliceVar(&public, "public-client-redirect-uris", nil, "Space-separated redirect URIs of the public-client (mobile/desktop) platform")
	}
	create := &cobra.Command{
		Use: "create", Short: "Create an app registration", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			body := map[string]any{"displayName": displayName}
			platforms(c, body)
			v, err := a.graphRequest(c.Context(), http.MethodPost, "/v1.0/applications", body)
			if err != nil {
				return err
			}
			return a.print(v)
		},
	}
	create.Flags().StringVar(&displayName, "display-name", "", "Display name")
	create.MarkFlagRequired("display-name")
	uriFlags(create)
	update := &cobra.Command{
		Use: "update", Short: "Update an app registration's name or redirect URIs", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			body := map[string]any{}
			if displayName != "" {
				body["displayName"] = displayName
			}
			platforms(c, body)
			_, err := a.graphRequest(c.Context(), http.MethodPatch, "/v1.0/applications/"+url.PathEscape(id), body)
			return err
		},
	}
	update.Flags().StringVar(&id, "id", "", "Object ID or app ID")
	update.MarkFlagRequired("id")
	update.Flags().StringVar(&displayName, "display-name", "", "New display name")
	uriFlags(update)
	show := &cobra.Command{
		Use: "show", Short: "Show an app registration (by object ID or app ID)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v, err := a.graphRequest(c.Context(), http.MethodGet, "/v1.0/applications/"+url.PathEscape(id), nil)
			if err != nil {
				return err
			}
			return a.print(v)
		},
	}
	show.Flags().StringVar(&id, "id", "", "Object ID or app ID")
	show.MarkFlagRequired("id")
	list := &cobra.Command{
		Use: "list", Short: "List app registrations", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return a.graphList(c.Context(), "/v1.0/applications", displayName, "displayName")
		},
	}
	list.Flags().StringVar(&displayName, "display-name", "", "Filter by display name")
	list.Flags().Bool("all", false, "List all (amlid always does)")
	del := &cobra.Command{
		Use: "delete", Short: "Delete an app registration and its service principal", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := a.graphRequest(c.Context(), http.MethodDelete, "/v1.0/applications/"+url.PathEscape(id), nil)
			return err
		},
	}
	del.Flags().StringVar(&id, "id", "", "Object ID or app ID")
	del.MarkFlagRequired("id")
	appc.AddCommand(create, update, show, list, del)
	return appc
}

// adSPCreateCmd is az ad sp create --id <appId>: the service principal of
// an app registration (what signs in).
func (a *app) adSPCreateCmd() *cobra.Command {
	var id string
	c := &cobra.Command{
		Use: "create", Short: "Create the service principal of an app registration", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v, err := a.graphRequest(c.Context(), http.MethodPost, "/v1.0/servicePrincipals", map[string]any{"appId": id})
			if err != nil {
				return err
			}
			return a.print(v)
		},
	}
	c.Flags().StringVar(&id, "id", "", "App ID of the app registration")
	c.MarkFlagRequired("id")
	return c
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
