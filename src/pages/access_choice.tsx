/** @jsxImportSource hono/jsx */
/**
 * The fields of an OAuth grant's access choice (core/grant_access.ts), shared by the consent
 * page and the connected-access page: all spaces (now and later) or chosen ones, the user's
 * conversations outside spaces, and read-only. No script: plain radios and checkboxes.
 * @module
 */
import type { Child } from "hono/jsx";
import { spaceField } from "../core/grant_access.ts";

export interface ChoosableSpace {
  sId: string;
  name: string;
  kind: string;
  isRestricted: boolean;
}

export interface ChoiceState {
  allSpaces: boolean;
  /** sIds of the chosen spaces (ignored when `allSpaces`). */
  chosen: ReadonlySet<string>;
  conversations: boolean;
  readOnly: boolean;
}

/** The consent page's default: everything, read + write (today's behaviour). */
export const DEFAULT_CHOICE: ChoiceState = {
  allSpaces: true,
  chosen: new Set(),
  conversations: true,
  readOnly: false,
};

function kindLabel(s: ChoosableSpace): string {
  if (s.kind === "project") return "Pod";
  if (s.kind === "global") return "company data";
  return s.isRestricted ? "restricted space" : "open space";
}

/** The checkboxes of one workspace's spaces. */
export function SpaceBoxes(
  props: {
    workspace: { sId: string; name: string };
    spaces: ChoosableSpace[];
    state: ChoiceState;
    legend?: string;
  },
) {
  const checked = (sId: string) => props.state.allSpaces || props.state.chosen.has(sId);
  return (
    <fieldset data-workspace={props.workspace.sId}>
      <legend>{props.legend ?? `Spaces and Pods in ${props.workspace.name}`}</legend>
      {props.spaces.length === 0 ? <p class="muted">You read no space here yet.</p> : null}
      {props.spaces.map((s) => (
        <label class="inline">
          <input
            type="checkbox"
            name={spaceField(props.workspace.sId, s.sId)}
            value="1"
            checked={checked(s.sId)}
          />{" "}
          {s.name} <span class="muted">({kindLabel(s)})</span>
        </label>
      ))}
    </fieldset>
  );
}

/** The access radios and boxes; `spaces` renders the space checkboxes in between. */
export function AccessChoiceFields(
  props: { state: ChoiceState; canWrite: boolean; children?: Child },
) {
  const s = props.state;
  return (
    <fieldset>
      <legend>What it may reach</legend>
      <label class="inline">
        <input type="radio" name="access" value="all" checked={s.allSpaces} />{" "}
        Every space and Pod I can access, now and later, and my conversations
      </label>
      <label class="inline">
        <input type="radio" name="access" value="chosen" checked={!s.allSpaces} />{" "}
        Only the spaces and Pods ticked below
      </label>
      {props.children}
      <label class="inline">
        <input type="checkbox" name="conversations" value="1" checked={s.conversations} />{" "}
        With “only ticked”: also my conversations outside spaces (private and shared ones) and my
        uploads
      </label>
      {props.canWrite
        ? (
          <label class="inline">
            <input type="checkbox" name="read_only" value="1" checked={s.readOnly} />{" "}
            Read-only: do not allow writes
          </label>
        )
        : null}
    </fieldset>
  );
}
