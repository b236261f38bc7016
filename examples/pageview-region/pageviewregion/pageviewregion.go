// Package pageviewregion holds the topology of examples/pageview-region, Kafka Streams'
// PageViewRegionExample: page views (user → page) are joined with user profiles (user →
// region), re-keyed by region and counted in hopping windows of 5 minutes advancing by
// 1 minute.
//
//	topo, err := pageviewregion.Topology(pageviewregion.OutputTopic)
package pageviewregion

import (
	"fmt"
	"time"

	"github.com/gregorhq/gregor/streams"
)

// Default topic, application and store names.
const (
	// PageViewTopic has page views: the user as key, the page as value.
	PageViewTopic = "streams-pageview-input"
	// UserProfileTopic has user profiles: the user as key, the region as value (a null
	// value deletes the profile).
	UserProfileTopic = "streams-userprofile-input"
	// OutputTopic gets the counts: "region@windowStart->windowEnd" (milliseconds) as
	// key, the count as value (int64, as Kafka's LongSerializer).
	OutputTopic   = "streams-pageviewstats-output"
	ApplicationID = "streams-pageview-region"
	// RegionStore materializes the user profiles.
	RegionStore = "user-regions"
	// CountStore is the window store of the counts.
	CountStore = "views-per-region"
	// WindowSize and WindowAdvance make the hopping windows.
	WindowSize    = 5 * time.Minute
	WindowAdvance = time.Minute
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

// Topology builds the example: the views by region (ViewsByRegion) are grouped by region
// through the repartition topic "<application.id>-views-by-region-repartition" and
// counted per hopping window into CountStore; every count update goes to output.
func Topology(output string) (*streams.Topology, error) {
	b := streams.NewBuilder()
	byRegion := ViewsByRegion(b).GroupByKey(streams.Named("views-by-region"))
	counts := streams.WindowedBy(byRegion, streams.TimeWindowsOfSizeWithNoGrace(WindowSize).AdvanceBy(WindowAdvance)).
		Count(streams.As(CountStore))
	streams.Map(counts.ToStream(), func(k streams.Windowed[string], n int64) (string, int64) {
		return fmt.Sprintf("%s@%d->%d", k.Key, k.Window.Start, k.Window.End), n
	}).To(output)
	return b.Build()
}
