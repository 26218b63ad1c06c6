"""Thin Lambda entry points: parse the event, call one domain function, log a metric, return."""
