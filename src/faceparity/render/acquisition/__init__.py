"""Failures to acquire and enrol for people: their table and report section."""
