package main

func shutdownFaultCases() []faultCase { return nil }
