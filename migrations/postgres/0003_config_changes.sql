-- Every change to a task config, by any process (or by hand), is announced
-- on the channel `taskbox_config_changes` with the config's id, when the
-- transaction commits. API processes LISTEN to drop their cached copy.
CREATE FUNCTION taskbox_config_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('taskbox_config_changes', COALESCE(NEW.id, OLD.id)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER task_configs_changed
    AFTER UPDATE OR DELETE ON task_configs
    FOR EACH ROW EXECUTE FUNCTION taskbox_config_changed();
