package provision

// DestroyPlan turns a plan into the deletion of the instance of every account
// it lists that has one. Instances the manifest does not list (prune's
// deletions) are left alone: destroy removes what the manifest names.
func DestroyPlan(p Plan) Plan {
	out := Plan{Set: p.Set, Platform: p.Platform, Read: p.Read}
	for _, c := range p.Changes {
		if c.Remote == nil || c.Desired == nil {
			continue
		}
		out.Changes = append(out.Changes, Change{Name: c.Name, Action: Delete, Remote: c.Remote})
		for _, x := range c.Extras { // a duplicate's other instances go too
			out.Changes = append(out.Changes, Change{Name: c.Name, Action: Delete, Remote: x})
		}
	}
	return out
}
