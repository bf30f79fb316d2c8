-- wrk script of the load test's DPoP target: every request carries the
-- access token and its own proof, read from the file bench/dpopclient
-- signed just before the run (a proof is single use, and wrk cannot sign).
-- Arguments: PROOFS_FILE ACCESS_TOKEN. Running out of proofs reuses them,
-- which the gateway refuses (the errors column then shows it).
local proofs, n, token = {}, 0, ""

function init(args)
  for line in io.lines(args[1]) do
    n = n + 1
    proofs[n] = line
  end
  token = args[2]
end

local i = 0
function request()
  i = i + 1
  return wrk.format(nil, nil, {["Authorization"] = "DPoP " .. token, ["DPoP"] = proofs[(i - 1) % n + 1]})
end
