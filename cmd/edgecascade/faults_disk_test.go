package main

func diskFaultCases() []faultCase { return nil }
