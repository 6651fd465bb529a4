-- Every change of a current plugin version (an upload, a rollback, a
-- directory file recorded or gone) is announced on the channel
-- `taskbox_plugin_heads` (its payload: the task type), delivered when its
-- transaction commits: nodes LISTEN and load the new version at once
-- instead of waiting for their next poll.
CREATE FUNCTION taskbox_plugin_heads_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('taskbox_plugin_heads', COALESCE(NEW.name, OLD.name));
    RETURN NULL;
END
$$;

CREATE TRIGGER plugin_heads_notify
    AFTER INSERT OR UPDATE OR DELETE ON plugin_heads
    FOR EACH ROW EXECUTE FUNCTION taskbox_plugin_heads_notify();
