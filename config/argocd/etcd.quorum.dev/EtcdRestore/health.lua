-- Argo CD health of an EtcdRestore (etcd.quorum.dev), read from the
-- operator's kstatus conditions: Stalled (refused, or a member cannot
-- restore), Reconciling (the members are stopping or restoring) and Ready
-- (the cluster runs on the restored data). status.phase decides alone for
-- status without conditions. It uses only Lua's base and table libraries,
-- the ones Argo CD opens for a script in argocd-cm.
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
  hs.message = text(stalled, "The restore cannot go on")
  return hs
end

-- Succeeded and Failed are final.
if status.phase == "Failed" then
  hs.status = "Degraded"
  if status.message ~= nil and status.message ~= "" then
    hs.message = status.message
  else
    hs.message = "The restore failed"
  end
  return hs
end
local ready = condition(status, "Ready")
if status.phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = text(ready, status.message or "The restore succeeded")
  return hs
end

local reconciling = condition(status, "Reconciling")
if isTrue(reconciling) then
  hs.status = "Progressing"
  hs.message = text(reconciling, "The restore is in progress")
  return hs
end

hs.status = "Progressing"
if status.phase ~= nil and status.phase ~= "" then
  hs.message = "The restore is " .. status.phase
else
  hs.message = "Waiting for the restore to start"
end
return hs
