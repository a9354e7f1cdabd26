-- Argo CD health of an EtcdBackup (etcd.quorum.dev), read from the
-- operator's kstatus conditions: Stalled (the backup failed), Reconciling
-- (it is pending or running) and Ready (it succeeded). status.phase decides
-- alone for operators that wrote no such conditions. It uses only Lua's
-- base and table libraries, the ones Argo CD opens for a script in argocd-cm.
local hs = {}

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

-- text is what a condition says: its message, else its reason.
local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local stalled = condition(status, "Stalled")
if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = text(stalled, "The backup failed")
  return hs
end

-- Succeeded and Failed are final.
local ready = condition(status, "Ready")
if status.phase == "Failed" then
  hs.status = "Degraded"
  if status.message ~= nil and status.message ~= "" then
    hs.message = status.message
  else
    hs.message = "The backup failed"
  end
  return hs
end
if status.phase == "Succeeded" then
  hs.status = "Healthy"
  if isTrue(ready) then
    hs.message = text(ready, "The backup succeeded")
  elseif status.location ~= nil and status.location ~= "" then
    hs.message = "The snapshot is written to " .. status.location
  else
    hs.message = "The backup succeeded"
  end
  return hs
end

-- The status describes an older spec until the operator has seen this one.
local generation = tonumber(obj.metadata.generation)
local observed = tonumber(status.observedGeneration)
if observed == nil and ready ~= nil then
  observed = tonumber(ready.observedGeneration)
end
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to act on generation " .. generation .. " (status describes " .. observed .. ")"
  return hs
end

local reconciling = condition(status, "Reconciling")
if isTrue(reconciling) then
  hs.status = "Progressing"
  hs.message = text(reconciling, "The backup is in progress")
  return hs
end

if isTrue(ready) then
  hs.status = "Healthy"
  hs.message = text(ready, "The backup succeeded")
  return hs
end

hs.status = "Progressing"
if status.phase ~= nil and status.phase ~= "" then
  hs.message = "The backup is " .. status.phase
else
  hs.message = text(ready, "Waiting for the backup to start")
end
return hs
