-- LuCI-style handler building a ping command from a form value
local http = require "luci.http"
local host = http.formvalue("host")
local out = io.popen("ping -c 1 " .. http.formvalue("host"))
