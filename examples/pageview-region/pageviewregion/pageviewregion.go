// Package pageviewregion holds the topology of examples/pageview-region, Kafka Streams'
// PageViewRegionExample: page views (user → page) are joined with user profiles (user →
// region), re-keyed by region and counted in hopping windows.
package pageviewregion

import (
	"github.com/gregorhq/gregor/streams"
)

// Default topic, application and store names.
const (
	// PageViewTopic has page views: the user as key, the page as value.
	PageViewTopic = "streams-pageview-input"
	// UserProfileTopic has user profiles: the user as key, the region as value (a null
	// value deletes the profile).
	UserProfileTopic = "streams-userprofile-input"
	ApplicationID    = "streams-pageview-region"
	// RegionStore materializes the user profiles.
	RegionStore = "user-regions"
	// UnknownRegion is the region of views by users without a profile.
	UnknownRegion = "UNKNOWN"
)

// ViewRegion is a page view with the region of its user.
type ViewRegion struct {
	User   string `json:"user"`
	Page   string `json:"page"`
	Region string `json:"region"`
}

// ViewsByRegion adds the join of the page views with the user profiles (a left join:
// views by users without a profile get UnknownRegion), re-keyed by region.
func ViewsByRegion(b *streams.Builder) streams.Stream[string, ViewRegion] {
	views := streams.StreamFrom[string, string](b, PageViewTopic, nil, nil)
	regions := streams.TableFrom[string, string](b, UserProfileTopic, nil, nil, streams.As(RegionStore))
	joined := streams.StreamTableLeftJoin(views, regions, func(user, page string, region *string) ViewRegion {
		vr := ViewRegion{User: user, Page: page, Region: UnknownRegion}
		if region != nil {
			vr.Region = *region
		}
		return vr
	}, streams.Named("pageviews-with-regions"))
	return streams.SelectKey(joined, func(_ string, vr ViewRegion) string { return vr.Region }).
		WithSerdes(streams.String(), streams.JSON[ViewRegion]())
}
