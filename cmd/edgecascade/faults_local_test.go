package main

func localFaultCases() []faultCase { return nil }
