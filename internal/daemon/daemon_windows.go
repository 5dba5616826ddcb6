package daemon

const driverName = "windowsfilter"

func kernelVersion() string   { return "" }
func operatingSystem() string { return "Windows" }
