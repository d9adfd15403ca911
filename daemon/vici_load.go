package daemon

func (d *Daemon) viciLoadHandlers() {}
