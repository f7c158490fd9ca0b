-- Argo CD health check for liveai.lemonslice.com/MeetingBot, following the
-- kstatus conditions the operator writes: Ready, Reconciling and Stalled.
-- Argo CD runs it in gopher-lua (Lua 5.1) with only the base, table, package
-- and a reduced os library: no string, math or io functions here.
hs = {}
hs.status = "Progressing"
hs.message = "Waiting for the operator"

local function condition(status, type)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  return (c.reason or fallback) .. ": " .. (c.message or "")
end

local deleting = obj.metadata.deletionTimestamp ~= nil
local status = obj.status
local generation = obj.metadata.generation
local stalled = condition(status, "Stalled")
local ready = condition(status, "Ready")

if deleting then
  -- Argo CD 3.6 and later keep this answer for an object being deleted only
  -- when hs.deletionMessage is set; 3.5 shows "Pending deletion" instead.
  if stalled ~= nil and stalled.status == "True" then
    hs.status = "Degraded"
    hs.message = describe(stalled, "Stalled")
  else
    hs.message = "Being deleted: the avatar leaves the meeting first"
    if ready ~= nil then
      hs.message = hs.message .. " (" .. describe(ready, "") .. ")"
    end
  end
  hs.deletionMessage = hs.message
  return hs
end

if status == nil or (generation ~= nil and (status.observedGeneration or 0) < generation) then
  hs.message = "Waiting for the operator to observe the latest spec"
  return hs
end

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

if ready ~= nil and ready.status == "True" then
  if status.phase == "Suspended" then
    hs.status = "Suspended"
  else
    hs.status = "Healthy"
  end
  hs.message = ready.message or ""
  return hs
end

if ready ~= nil then
  hs.message = describe(ready, "")
end
return hs
