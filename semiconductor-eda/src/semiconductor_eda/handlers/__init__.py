"""Lambda entry points: parse, call one domain function, log/metric, return."""
