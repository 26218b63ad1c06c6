"""Thin Lambda entry points: parse the event, call one domain function, log and metric, return."""
