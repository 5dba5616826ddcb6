package main

const defaultRoot = `C:\ProgramData\hull`
