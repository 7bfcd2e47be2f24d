// Chat templates of tokenizer_config.json (Jinja, rendered by @huggingface/jinja as
// transformers does): a conversation becomes the one text the model was tuned on.
import { Template } from '@huggingface/jinja';
import { cut } from '@attnkit/core';
import { TokenizerError } from './tokenizer';
import { MAX_CHAT_TEMPLATE_CHARS } from './limits';

export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** End with the template's opening of an assistant turn (default true). */
  addGenerationPrompt?: boolean;
  /** A template to use instead of the tokenizer's. */
  template?: string;
  /** Which of several named templates of tokenizer_config.json (default 'default'). */
  templateName?: string;
  /** More variables for the template (`tools`, `date_string`, ...). */
  variables?: Record<string, unknown>;
}

/** Renders `template` for `messages`; a template the engine refuses is a TokenizerError. */
export function renderChatTemplate(
  template: string,
  messages: readonly ChatMessage[],
  variables: Record<string, unknown>,
  options: ChatTemplateOptions,
): string {
  if (template.length > MAX_CHAT_TEMPLATE_CHARS) {
    throw new TokenizerError(
      `HfTokenizer: chat_template expected at most ${MAX_CHAT_TEMPLATE_CHARS} characters, got ${template.length}`,
    );
  }
  try {
    return new Template(template).render({
      ...variables,
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: options.addGenerationPrompt ?? true,
    });
  } catch (error) {
    throw new TokenizerError(
      `HfTokenizer: chat_template expected a template that renders, got an error (${cut((error as Error).message)})`,
    );
  }
}
