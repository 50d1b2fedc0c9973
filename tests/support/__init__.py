"""Test support code shared by the suites (local servers, fakes); never imported by the platform."""
