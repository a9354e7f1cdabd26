-- Argo CD health of an EtcdCluster (etcd.quorum.dev), read from the
-- operator's kstatus conditions: Stalled (a person must act), Reconciling
-- (work in flight) and Ready (healthy and settled). It uses only Lua's base
-- and table libraries, the ones Argo CD opens for a script in argocd-cm.
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
  hs.message = text(stalled, "Stalled: a person must act")
  return hs
end

-- The status describes an older spec until the operator has seen this one.
local ready = condition(status, "Ready")
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

if obj.spec ~= nil and obj.spec.paused == true then
  hs.status = "Suspended"
  hs.message = "spec.paused is set: the operator changes nothing"
  return hs
end

local reconciling = condition(status, "Reconciling")
if isTrue(reconciling) then
  hs.status = "Progressing"
  hs.message = text(reconciling, "Reconciling")
  return hs
end

if isTrue(ready) then
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  return hs
end

hs.status = "Progressing"
hs.message = text(ready, "Waiting for the cluster to be Ready")
return hs
