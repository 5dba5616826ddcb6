package main

const defaultRoot = "/var/lib/hull"
